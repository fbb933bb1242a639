import Fastify from 'fastify';

// The ceiling for request handling: a bare Fastify JSON route, no logging, same machine.
const app = Fastify({ logger: false });
app.get('/', async () => ({ hello: 'world' }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
process.send?.('ready');
