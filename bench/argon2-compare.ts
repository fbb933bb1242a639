/**
 * Side by side in one process: each argon2id binding verifies the same PHC strings, made with
 * the OWASP parameters (m=19456 KiB, t=2, p=1), with the same number of verifies in flight.
 * Rounds alternate between the libraries so that noise from other work on the machine falls on
 * both. The `argon2` package is no longer a dependency; install it for this comparison only:
 *   npm install --no-save argon2 && node --import tsx bench/argon2-compare.ts [seconds per round] [rounds]
 */
import { availableParallelism } from 'node:os';
import { hash as rsHash, verify as rsVerify } from '@node-rs/argon2';

interface Argon2Package {
  argon2id: number;
  hash(
    password: string,
    options: { type: number; memoryCost: number; timeCost: number; parallelism: number },
  ): Promise<string>;
  verify(phc: string, password: string): Promise<boolean>;
}
// Named through a variable so that type-checking does not require the package.
const argon2Name = 'argon2';
let argon2: Argon2Package;
try {
  argon2 = ((await import(argon2Name)) as { default: Argon2Package }).default;
} catch {
  console.error('The argon2 package is not installed: npm install --no-save argon2');
  process.exit(2);
}

const seconds = Number(process.argv[2] ?? 5);
const rounds = Number(process.argv[3] ?? 3);
/** libuv's thread pool (4 threads), where both libraries run their work: keep it full. */
const inFlight = 8;
const PARAMETERS = { memoryCost: 19456, timeCost: 2, parallelism: 1 };

type Verify = (phc: string, password: string) => Promise<boolean>;
const candidates: Record<string, Verify> = {
  argon2: (phc, password) => argon2.verify(phc, password),
  '@node-rs/argon2': (phc, password) => rsVerify(phc, password),
};

const passwords = ['Benchpass1', 'Correct-horse-9', 'Tr0ubadour&3'];
// Half the strings from each library, so neither verifies only its own output.
const phcs = await Promise.all(
  passwords.map((password, i) =>
    i % 2 === 0
      ? argon2.hash(password, { type: argon2.argon2id, ...PARAMETERS })
      : rsHash(password, { algorithm: 2, ...PARAMETERS }),
  ),
);

async function rate(verify: Verify): Promise<number> {
  let done = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: inFlight }, async (_, lane) => {
      while (performance.now() < deadline) {
        const i = (done + lane) % passwords.length;
        if (!(await verify(phcs[i] ?? '', passwords[i] ?? ''))) throw new Error('verify failed');
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

for (const verify of Object.values(candidates)) await rate(verify); // warm-up, and both verify all strings
const totals: Record<string, number[]> = {};
for (let round = 0; round < rounds; round++) {
  for (const [name, verify] of Object.entries(candidates)) {
    const perSecond = await rate(verify);
    totals[name] = [...(totals[name] ?? []), perSecond];
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const summary = Object.fromEntries(
  Object.entries(totals).map(([name, values]) => [
    name,
    { medianPerSecond: Math.round(median(values) * 10) / 10, rounds: values.map((v) => Math.round(v)) },
  ]),
);
console.log(
  JSON.stringify(
    { cpus: availableParallelism(), inFlight, seconds, parameters: PARAMETERS, summary },
    null,
    2,
  ),
);
