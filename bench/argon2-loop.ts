import { hash, verify } from '@node-rs/argon2';

/**
 * The ceiling for password logins: raw argon2id verifies with the server's library and
 * parameters, enough in flight to keep libuv's thread pool (4 threads) busy, in a process of its
 * own. The same library the server uses, which is the fastest binding measured
 * (bench/argon2-compare.ts).
 */
const concurrency = Number(process.env.CONCURRENCY ?? 8);
const seconds = Number(process.env.SECONDS ?? 8);
const memoryCost = Number(process.env.MEMORY_KIB ?? 19456);
const timeCost = Number(process.env.ITERATIONS ?? 2);

const phc = await hash('Benchpass1', { algorithm: 2, memoryCost, timeCost, parallelism: 1 });
for (let i = 0; i < concurrency; i++) await verify(phc, 'Benchpass1'); // warm-up
let done = 0;
const cpuBefore = process.cpuUsage();
const deadline = Date.now() + seconds * 1000;
const started = Date.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (Date.now() < deadline) {
      if (!(await verify(phc, 'Benchpass1'))) throw new Error('verify failed');
      done++;
    }
  }),
);
const elapsed = (Date.now() - started) / 1000;
// CPU of the whole process, thread pool included.
const cpu = process.cpuUsage(cpuBefore);
process.send?.({
  perSecond: done / elapsed,
  count: done,
  seconds: elapsed,
  cpuSeconds: (cpu.user + cpu.system) / 1e6,
});
