import { Type } from 'typebox';
import type { Deps } from '../../deps.js';
import {
  createUser,
  deleteUser,
  getUserByNameFor,
  getUserFor,
  listUsersFor,
  updateUser,
} from '../../identity/users.js';
import type { Api as App } from '../api.js';
import { requireCaller } from '../auth.js';
import { hexId } from '../ids.js';
import { renderUser } from '../render.js';

const userParams = Type.Object({ userId: hexId() });

/** Field types are checked here; the reference's own messages for each rule come from identity/. */
const userFields = {
  username: Type.Optional(Type.String({ maxLength: 255 })),
  email: Type.Optional(Type.String({ maxLength: 255 })),
  enabled: Type.Optional(Type.Boolean()),
  'OS-KSADM:password': Type.Optional(Type.String({ maxLength: 1024 })),
  'RAX-AUTH:defaultRegion': Type.Optional(Type.String({ maxLength: 255 })),
  'RAX-AUTH:domainId': Type.Optional(Type.String({ maxLength: 64 })),
};

const userBody = Type.Object({ user: Type.Object(userFields) });

export function registerUserRoutes(app: App, deps: Deps): void {
  app.post('/v2.0/users', { schema: { body: userBody } }, async (request, reply) => {
    const caller = await requireCaller(deps, request);
    const input = request.body.user;
    const created = await createUser(deps, caller.user, caller.source, {
      ...(input.username === undefined ? {} : { username: input.username }),
      ...(input.email === undefined ? {} : { email: input.email }),
      ...(input.enabled === undefined ? {} : { enabled: input.enabled }),
      ...(input['OS-KSADM:password'] === undefined ? {} : { password: input['OS-KSADM:password'] }),
      ...(input['RAX-AUTH:defaultRegion'] === undefined
        ? {}
        : { defaultRegion: input['RAX-AUTH:defaultRegion'] }),
      ...(input['RAX-AUTH:domainId'] === undefined ? {} : { domainId: input['RAX-AUTH:domainId'] }),
    });
    const body = renderUser(deps, created.user);
    if (created.generatedPassword !== undefined) body['OS-KSADM:password'] = created.generatedPassword;
    return reply.code(201).header('Location', `/v2.0/users/${created.user.id}`).send({ user: body });
  });

  app.get(
    '/v2.0/users',
    {
      schema: {
        querystring: Type.Object({
          name: Type.Optional(Type.String({ maxLength: 255 })),
          email: Type.Optional(Type.String({ maxLength: 255 })),
        }),
      },
    },
    async (request) => {
      const caller = await requireCaller(deps, request);
      if (request.query.name !== undefined) {
        return { user: renderUser(deps, await getUserByNameFor(deps, caller.user, request.query.name)) };
      }
      const users = await listUsersFor(deps, caller.user, request.query.email);
      return { users: users.map((user) => renderUser(deps, user)) };
    },
  );

  app.get('/v2.0/users/:userId', { schema: { params: userParams } }, async (request) => {
    const caller = await requireCaller(deps, request);
    return { user: renderUser(deps, await getUserFor(deps, caller.user, request.params.userId)) };
  });

  app.post('/v2.0/users/:userId', { schema: { params: userParams, body: userBody } }, async (request) => {
    const caller = await requireCaller(deps, request);
    const input = request.body.user;
    // MFA attributes in the body are ignored (reference §6.5): they are not in the schema's fields.
    const updated = await updateUser(deps, caller.user, caller.source, request.params.userId, {
      ...(input.username === undefined ? {} : { username: input.username }),
      ...(input.email === undefined ? {} : { email: input.email }),
      ...(input.enabled === undefined ? {} : { enabled: input.enabled }),
      ...(input['OS-KSADM:password'] === undefined ? {} : { password: input['OS-KSADM:password'] }),
      ...(input['RAX-AUTH:defaultRegion'] === undefined
        ? {}
        : { defaultRegion: input['RAX-AUTH:defaultRegion'] }),
    });
    return { user: renderUser(deps, updated) };
  });

  app.delete('/v2.0/users/:userId', { schema: { params: userParams } }, async (request, reply) => {
    const caller = await requireCaller(deps, request);
    await deleteUser(deps, caller.user, caller.source, request.params.userId);
    return reply.code(204).send();
  });
}
