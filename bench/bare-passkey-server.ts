import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type WebAuthnCredential,
} from '@simplewebauthn/server';
import Fastify from 'fastify';

/**
 * The ceiling for passkey sign-ins: bare Fastify JSON routes around @simplewebauthn/server, the
 * library latchkey verifies with, and nothing else: no logging, no database, no session. The
 * checks are a sign-in's own: the challenge is ours and answers once, the origin and RP ID are
 * exact, the user was verified, the signature holds and the counter went up. Challenges and
 * credentials are kept in memory. The origin is http://localhost:<PORT>, as for the server.
 */
const port = Number(process.env.PORT);
const rpID = 'localhost';
const origin = `http://localhost:${port}`;
const challenges = new Set<string>();
const credentials = new Map<string, WebAuthnCredential>();
/** Spends a challenge: true once for each one given out. */
const spend = (challenge: string): boolean => challenges.delete(challenge);

const app = Fastify({ logger: false });
app.get('/', async () => ({ ready: true }));
app.post('/register/options', async () => {
  const options = await generateRegistrationOptions({
    rpName: 'bench',
    rpID,
    userName: 'bench',
    attestationType: 'none',
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
  });
  challenges.add(options.challenge);
  return options;
});
app.post('/register', async (request) => {
  const { registrationInfo } = await verifyRegistrationResponse({
    response: request.body as RegistrationResponseJSON,
    expectedChallenge: spend,
    expectedOrigin: origin,
    expectedRPID: rpID,
    requireUserVerification: false,
  });
  if (!registrationInfo) throw new Error('not verified');
  credentials.set(registrationInfo.credential.id, registrationInfo.credential);
  return { registered: true };
});
app.post('/options', async () => {
  // A sign-in with a passkey alone: any discoverable credential, user verification required.
  const options = await generateAuthenticationOptions({ rpID, userVerification: 'required' });
  challenges.add(options.challenge);
  return options;
});
app.post('/verify', async (request, reply) => {
  const response = request.body as AuthenticationResponseJSON;
  const credential = credentials.get(response.id);
  if (!credential) return reply.code(400).send({ verified: false });
  try {
    const { authenticationInfo } = await verifyAuthenticationResponse({
      response,
      expectedChallenge: spend,
      expectedOrigin: origin,
      expectedRPID: rpID,
      credential,
      requireUserVerification: true,
    });
    credential.counter = authenticationInfo.newCounter;
    return { verified: true };
  } catch {
    return reply.code(400).send({ verified: false });
  }
});
await app.listen({ host: '127.0.0.1', port });
process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
process.send?.('ready');
