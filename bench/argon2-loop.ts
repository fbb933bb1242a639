import argon2 from 'argon2';

/**
 * The ceiling for password logins: argon2id verifies with the server's parameters, enough in
 * flight to keep libuv's thread pool (4 threads) busy, in a process of its own.
 */
const concurrency = Number(process.env.CONCURRENCY ?? 4);
const seconds = Number(process.env.SECONDS ?? 8);
const memoryCost = Number(process.env.MEMORY_KIB ?? 19456);
const timeCost = Number(process.env.ITERATIONS ?? 2);

const hash = await argon2.hash('Benchpass1', { type: argon2.argon2id, memoryCost, timeCost, parallelism: 1 });
for (let i = 0; i < concurrency; i++) await argon2.verify(hash, 'Benchpass1'); // warm-up
let done = 0;
const deadline = Date.now() + seconds * 1000;
const started = Date.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (Date.now() < deadline) {
      if (!(await argon2.verify(hash, 'Benchpass1'))) throw new Error('verify failed');
      done++;
    }
  }),
);
process.send?.({ perSecond: done / ((Date.now() - started) / 1000), count: done });
