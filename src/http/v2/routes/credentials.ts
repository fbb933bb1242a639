import { type TSchema, Type } from 'typebox';
import { badRequest } from '../../../core/errors.js';
import { deleteApiKey, findApiKey, readApiKey, resetApiKey } from '../../../identity/api-keys.js';
import { PASSWORD_POLICY_MESSAGE } from '../../../identity/passwords.js';
import { requirePrecedence, updateUser } from '../../../identity/users.js';
import type { Deps } from '../../../services/deps.js';
import { requireCaller } from '../../auth.js';
import { described, fault, noContent, notFoundFault, operation, Tags } from '../../openapi.js';
import type { HttpServer } from '../../server-instance.js';
import { hexId } from '../ids.js';
import { ApiKeyResponseSchema, CredentialsResponseSchema, PasswordCredentialsSchema } from '../schemas.js';

const userParams = Type.Object({ userId: hexId() });
// Fastify reads '::' as a literal ':' in a path.
const API_KEY_PATH = '/v2.0/users/:userId/OS-KSADM/credentials/RAX-KSKEY::apiKeyCredentials';
const passwordBody = Type.Object({
  passwordCredentials: Type.Object({
    username: Type.Optional(Type.String({ maxLength: 255 })),
    password: Type.String({ maxLength: 1024 }),
  }),
});

const keyDoc = (summary: string, ok: Record<number, TSchema>, description?: string) =>
  operation({
    summary,
    ...(description === undefined ? {} : { description }),
    tag: Tags.credentials,
    responses: {
      ...ok,
      404: notFoundFault('User 0123456789abcdef0123456789abcdef not found', 'Credential not found.'),
    },
  });
const PRECEDENCE =
  'Callers act on themselves, or on users below them: identity:admin on anyone, account owners and user managers on their own account.';

const passwordDoc = operation({
  summary: "Set a user's password",
  description: `${PRECEDENCE} All the user's tokens are revoked.`,
  tag: Tags.credentials,
  responses: {
    201: described(PasswordCredentialsSchema, 'The credentials as set.'),
    400: fault(400, 'The password does not meet the policy, or the username is not the user.', [
      PASSWORD_POLICY_MESSAGE,
      'Username in the credentials does not match the user.',
    ]),
    404: notFoundFault('User 0123456789abcdef0123456789abcdef not found'),
  },
});

/** Reference §6.7: self always, anyone else by precedence. */
export function registerCredentialRoutes(app: HttpServer, deps: Deps): void {
  app.get(
    '/v2.0/users/:userId/OS-KSADM/credentials',
    {
      schema: {
        params: userParams,
        ...keyDoc(
          "List a user's credentials (its API key)",
          {
            200: described(CredentialsResponseSchema, 'The API key, if the user has one.'),
          },
          PRECEDENCE,
        ),
      },
    },
    async (request) => {
      const caller = await requireCaller(deps, request);
      const user = await requirePrecedence(deps, caller, request.params.userId);
      const apiKey = await findApiKey(deps, user.id);
      const credentials =
        apiKey === undefined ? [] : [{ 'RAX-KSKEY:apiKeyCredentials': { username: user.username, apiKey } }];
      return { credentials };
    },
  );

  app.get(
    API_KEY_PATH,
    {
      schema: {
        params: userParams,
        ...keyDoc(
          "Read a user's API key",
          { 200: described(ApiKeyResponseSchema, 'The API key.') },
          PRECEDENCE,
        ),
      },
    },
    async (request) => {
      const caller = await requireCaller(deps, request);
      const user = await requirePrecedence(deps, caller, request.params.userId);
      return {
        'RAX-KSKEY:apiKeyCredentials': { username: user.username, apiKey: await readApiKey(deps, user.id) },
      };
    },
  );

  app.post(
    `${API_KEY_PATH}/RAX-AUTH/reset`,
    {
      schema: {
        params: userParams,
        ...keyDoc("Reset (replace) a user's API key", {
          200: described(ApiKeyResponseSchema, 'The new API key; tokens are not revoked.'),
        }),
      },
    },
    async (request) => {
      const caller = await requireCaller(deps, request);
      const user = await requirePrecedence(deps, caller, request.params.userId);
      const apiKey = await resetApiKey(deps, caller.user.id, caller.source, user);
      return { 'RAX-KSKEY:apiKeyCredentials': { username: user.username, apiKey } };
    },
  );

  app.delete(
    API_KEY_PATH,
    { schema: { params: userParams, ...keyDoc("Delete a user's API key", { 204: noContent('Deleted.') }) } },
    async (request, reply) => {
      const caller = await requireCaller(deps, request);
      const user = await requirePrecedence(deps, caller, request.params.userId);
      await deleteApiKey(deps, caller.user.id, caller.source, user);
      return reply.code(204).send();
    },
  );

  const setPassword = async (
    request: {
      params: { userId: string };
      body: { passwordCredentials: { username?: string; password: string } };
    },
    callerToken: Awaited<ReturnType<typeof requireCaller>>,
  ) => {
    const user = await requirePrecedence(deps, callerToken, request.params.userId);
    const { username, password } = request.body.passwordCredentials;
    if (username !== undefined && username.toLowerCase() !== user.username.toLowerCase()) {
      throw badRequest('Username in the credentials does not match the user.');
    }
    await updateUser(deps, callerToken, user.id, { password });
    return { passwordCredentials: { username: user.username, password } };
  };

  app.post(
    '/v2.0/users/:userId/OS-KSADM/credentials',
    { schema: { params: userParams, body: passwordBody, ...passwordDoc } },
    async (request, reply) => {
      const caller = await requireCaller(deps, request);
      return reply.code(201).send(await setPassword(request, caller));
    },
  );

  app.post(
    '/v2.0/users/:userId/OS-KSADM/credentials/passwordCredentials',
    { schema: { params: userParams, body: passwordBody, ...passwordDoc } },
    async (request, reply) => {
      const caller = await requireCaller(deps, request);
      return reply.code(201).send(await setPassword(request, caller));
    },
  );
}
