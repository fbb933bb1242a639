import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PasswordHasher } from '../src/crypto/password-hasher.js';
import { insertUser } from '../src/identity/users.js';
import {
  createTestEnv,
  dialects,
  PASSWORD,
  passwordLogin,
  type TestEnv,
  uniqueName,
} from './support/harness.js';

const OWASP = { memoryKib: 19456, iterations: 2 };

/**
 * Made once with the `argon2` package (0.45.1), which latchkey used before @node-rs/argon2.
 * Note its parameter order (m, p, t): the PHC strings differ in form from today's, not in meaning.
 */
const OLD_LIBRARY_HASHES = [
  {
    password: 'Secretpass1',
    phc: '$argon2id$v=19$m=19456,p=1,t=2$9ePGLeTSMqztjZEa2vgXlQ$62zG793vk1ZSDh6KJBwhNh523cgAe551f6zHMaq0HCQ',
  },
  {
    password: 'Correct-horse-9',
    phc: '$argon2id$v=19$m=19456,p=1,t=2$kzDOg45VHemFad/HZBNSdw$U0SDF+PMo6KCmhcatAfMOCRepPoaDc3YA8nGpXgKyME',
  },
  {
    password: 'Secretpass1',
    phc: '$argon2id$v=19$m=1024,p=1,t=1$A7oVjgnkb8QkZBpCdD65pA$s3dopmbtCnQJBujPBIG/5haZM8betJJLTjsC89DuvSo',
  },
  {
    password: 'Tr0ubadour&3',
    phc: '$argon2id$v=19$m=65536,p=1,t=3$0UNVjR0Bjp79NIHfGgqOHA$pTlP/5h2w8JN0R2HUs8Pom1ieOAxsQDr6n55vt34V2U',
  },
] as const;

describe('password hashes', () => {
  const hasher = new PasswordHasher(OWASP);

  test('hashes made by the argon2 package verify unchanged, whatever their parameters', async () => {
    for (const { password, phc } of OLD_LIBRARY_HASHES) {
      assert.equal(await hasher.verify(phc, password), true, phc);
      assert.equal(await hasher.verify(phc, `${password}x`), false, phc);
    }
  });

  test('a stored hash needs rehashing only when its parameters differ from the configured ones', async () => {
    const [owaspA, owaspB, cheap, costly] = OLD_LIBRARY_HASHES;
    assert.equal(hasher.needsRehash(owaspA.phc), false);
    assert.equal(hasher.needsRehash(owaspB.phc), false);
    assert.equal(hasher.needsRehash(cheap.phc), true);
    assert.equal(hasher.needsRehash(costly.phc), true);
    assert.equal(hasher.needsRehash(await hasher.hash('Secretpass1')), false);
    assert.equal(new PasswordHasher({ memoryKib: 19456, iterations: 3 }).needsRehash(owaspA.phc), true);
    // argon2i with our costs is still another algorithm.
    assert.equal(
      hasher.needsRehash(owaspA.phc.replace('$argon2id$', '$argon2i$')),
      true,
      'argon2i is not argon2id',
    );
    assert.equal(hasher.needsRehash('not a hash'), true);
  });

  test('a malformed stored hash fails verification instead of throwing', async () => {
    assert.equal(await hasher.verify('$argon2id$v=19$m=19456', 'Secretpass1'), false);
    assert.equal(await hasher.verifyOrDummy(null, 'Secretpass1'), false);
  });
});

for (const dialect of dialects()) {
  describe(`password rehash on login (${dialect})`, () => {
    let env: TestEnv;
    before(async () => {
      env = await createTestEnv({ dialect });
    });
    after(() => env.close());

    async function storedHash(id: string): Promise<string> {
      const row = await env.deps.db
        .selectFrom('users')
        .select('password_hash')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      return row.password_hash ?? '';
    }

    async function newUser(): Promise<{ id: string; username: string }> {
      const username = uniqueName('rehash');
      const user = await insertUser(
        env.deps,
        { userId: null, source: 'test' },
        { username, password: PASSWORD, role: 'identity:admin', domainId: null, defaultRegion: '' },
      );
      return { id: user.id, username };
    }

    test('a login after the parameters changed rewrites the hash, and the password still works', async () => {
      const user = await newUser();
      const before = await storedHash(user.id);
      assert.match(before, /\$m=1024,t=1,p=1\$/);
      const original = env.deps.passwords;
      env.deps.passwords = new PasswordHasher({ memoryKib: 2048, iterations: 2 });
      try {
        const wrong = await passwordLogin(env, user.username, 'Wrongpass1');
        assert.equal(wrong.status, 401);
        assert.equal(await storedHash(user.id), before, 'a failed login rewrote the hash');

        const first = await passwordLogin(env, user.username);
        assert.equal(first.status, 200, first.text);
        const rehashed = await storedHash(user.id);
        assert.match(rehashed, /^\$argon2id\$v=19\$m=2048,t=2,p=1\$/);

        const second = await passwordLogin(env, user.username);
        assert.equal(second.status, 200, second.text);
        assert.equal(await storedHash(user.id), rehashed, 'a hash with current parameters was rewritten');
      } finally {
        env.deps.passwords = original;
      }
      // Back on the old parameters: rehashed again, and the same password still logs in.
      const back = await passwordLogin(env, user.username);
      assert.equal(back.status, 200, back.text);
      assert.match(await storedHash(user.id), /\$m=1024,t=1,p=1\$/);
    });

    test('a user whose hash the argon2 package made logs in, and is moved to the current parameters', async () => {
      const user = await newUser();
      const [, , cheap] = OLD_LIBRARY_HASHES;
      await env.deps.db
        .updateTable('users')
        .set({ password_hash: cheap.phc })
        .where('id', '=', user.id)
        .execute();
      // Same parameters as the test configuration: verified as it is, not rewritten.
      const same = await passwordLogin(env, user.username, cheap.password);
      assert.equal(same.status, 200, same.text);
      assert.equal(await storedHash(user.id), cheap.phc);

      const [owasp] = OLD_LIBRARY_HASHES;
      await env.deps.db
        .updateTable('users')
        .set({ password_hash: owasp.phc })
        .where('id', '=', user.id)
        .execute();
      const moved = await passwordLogin(env, user.username, owasp.password);
      assert.equal(moved.status, 200, moved.text);
      const now = await storedHash(user.id);
      assert.notEqual(now, owasp.phc);
      assert.match(now, /\$m=1024,t=1,p=1\$/);
      assert.equal((await passwordLogin(env, user.username, owasp.password)).status, 200);
    });
  });
}
