import { Type } from 'typebox';
import type { Deps } from '../../deps.js';
import { badRequest } from '../../errors.js';
import { deleteApiKey, findApiKey, readApiKey, resetApiKey } from '../../identity/api-keys.js';
import { requirePrecedence, updateUser } from '../../identity/users.js';
import type { Api as App } from '../api.js';
import { requireCaller } from '../auth.js';
import { hexId } from '../ids.js';

const userParams = Type.Object({ userId: hexId() });
// Fastify reads '::' as a literal ':' in a path.
const API_KEY_PATH = '/v2.0/users/:userId/OS-KSADM/credentials/RAX-KSKEY::apiKeyCredentials';
const passwordBody = Type.Object({
  passwordCredentials: Type.Object({
    username: Type.Optional(Type.String({ maxLength: 255 })),
    password: Type.String({ maxLength: 1024 }),
  }),
});

/** Reference §6.7: self always, anyone else by precedence. */
export function registerCredentialRoutes(app: App, deps: Deps): void {
  app.get('/v2.0/users/:userId/OS-KSADM/credentials', { schema: { params: userParams } }, async (request) => {
    const caller = await requireCaller(deps, request);
    const user = await requirePrecedence(deps, caller.user, request.params.userId);
    const apiKey = await findApiKey(deps, user.id);
    const credentials =
      apiKey === undefined ? [] : [{ 'RAX-KSKEY:apiKeyCredentials': { username: user.username, apiKey } }];
    return { credentials };
  });

  app.get(API_KEY_PATH, { schema: { params: userParams } }, async (request) => {
    const caller = await requireCaller(deps, request);
    const user = await requirePrecedence(deps, caller.user, request.params.userId);
    return {
      'RAX-KSKEY:apiKeyCredentials': { username: user.username, apiKey: await readApiKey(deps, user.id) },
    };
  });

  app.post(`${API_KEY_PATH}/RAX-AUTH/reset`, { schema: { params: userParams } }, async (request) => {
    const caller = await requireCaller(deps, request);
    const user = await requirePrecedence(deps, caller.user, request.params.userId);
    const apiKey = await resetApiKey(deps, caller.user.id, caller.source, user);
    return { 'RAX-KSKEY:apiKeyCredentials': { username: user.username, apiKey } };
  });

  app.delete(API_KEY_PATH, { schema: { params: userParams } }, async (request, reply) => {
    const caller = await requireCaller(deps, request);
    const user = await requirePrecedence(deps, caller.user, request.params.userId);
    await deleteApiKey(deps, caller.user.id, caller.source, user);
    return reply.code(204).send();
  });

  const setPassword = async (
    request: {
      params: { userId: string };
      body: { passwordCredentials: { username?: string; password: string } };
    },
    callerToken: Awaited<ReturnType<typeof requireCaller>>,
  ) => {
    const user = await requirePrecedence(deps, callerToken.user, request.params.userId);
    const { username, password } = request.body.passwordCredentials;
    if (username !== undefined && username.toLowerCase() !== user.username.toLowerCase()) {
      throw badRequest('Username in the credentials does not match the user.');
    }
    await updateUser(deps, callerToken.user, callerToken.source, user.id, { password });
    return { passwordCredentials: { username: user.username, password } };
  };

  app.post(
    '/v2.0/users/:userId/OS-KSADM/credentials',
    { schema: { params: userParams, body: passwordBody } },
    async (request, reply) => {
      const caller = await requireCaller(deps, request);
      return reply.code(201).send(await setPassword(request, caller));
    },
  );

  app.post(
    '/v2.0/users/:userId/OS-KSADM/credentials/passwordCredentials',
    { schema: { params: userParams, body: passwordBody } },
    async (request, reply) => {
      const caller = await requireCaller(deps, request);
      return reply.code(201).send(await setPassword(request, caller));
    },
  );
}
