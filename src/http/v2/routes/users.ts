import { type Static, Type } from 'typebox';
import { AuthorizationMessages } from '../../../access/caller.js';
import { Messages } from '../../../core/errors.js';
import { PASSWORD_POLICY_MESSAGE } from '../../../identity/passwords.js';
import {
  createUser,
  deleteUser,
  getUserByNameFor,
  getUserFor,
  listUsersFor,
  MAX_USERS_PER_DOMAIN,
  updateUser,
} from '../../../identity/users.js';
import type { Deps } from '../../../services/deps.js';
import { requireCaller } from '../../auth.js';
import { described, fault, noContent, notFoundFault, operation, Tags, withHeaders } from '../../openapi.js';
import type { HttpServer } from '../../server-instance.js';
import { hexId } from '../ids.js';
import { renderUser } from '../render.js';
import { UserResponseSchema, UsersResponseSchema } from '../schemas.js';

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

/** The body's user fields under the domain's names, those left out left out. */
function userFieldsOf(input: Static<typeof userBody>['user']) {
  return {
    ...(input.username === undefined ? {} : { username: input.username }),
    ...(input.email === undefined ? {} : { email: input.email }),
    ...(input.enabled === undefined ? {} : { enabled: input.enabled }),
    ...(input['OS-KSADM:password'] === undefined ? {} : { password: input['OS-KSADM:password'] }),
    ...(input['RAX-AUTH:defaultRegion'] === undefined
      ? {}
      : { defaultRegion: input['RAX-AUTH:defaultRegion'] }),
  };
}

const USER_FIELD_ERRORS = [
  'Expecting username',
  'Username has invalid characters.',
  'Expecting valid email address',
  PASSWORD_POLICY_MESSAGE,
  'Default region is too long.',
];
const userNotFound = notFoundFault('User 0123456789abcdef0123456789abcdef not found');

const createDoc = operation({
  summary: 'Create a user',
  description:
    'identity:admin creates account owners (identity:user-admin, each with a new account domain, or the RAX-AUTH:domainId given); account owners and user managers create identity:default users in their own account. Without OS-KSADM:password a password is generated and returned once.',
  tag: Tags.users,
  responses: {
    201: withHeaders(described(UserResponseSchema, 'The new user.'), {
      Location: Type.String({ description: '/v2.0/users/{userId}' }),
    }),
    400: fault(400, 'A field is missing or invalid.', [
      ...USER_FIELD_ERRORS,
      'Domain id must be numeric.',
      `An account may have at most ${MAX_USERS_PER_DOMAIN} users.`,
    ]),
    409: fault(409, 'The username is taken, or the domain already has an owner.', [
      "User with username: 'alice' already exists.",
      "Domain '12345' already has an account owner.",
    ]),
  },
});

const listDoc = operation({
  summary: 'List the users the caller may see, or find one by name',
  description:
    'With ?name= the answer is one user (`{"user":…}`); otherwise `{"users":[…]}`, filtered by ?email= if given. A default user sees itself only.',
  tag: Tags.users,
  responses: {
    200: Type.Union([UserResponseSchema, UsersResponseSchema], {
      description: 'One user (with ?name=) or the list.',
    }),
    404: notFoundFault("User 'alice' not found."),
  },
});

const getDoc = operation({
  summary: 'Get a user',
  tag: Tags.users,
  responses: { 200: described(UserResponseSchema, 'The user.'), 404: userNotFound },
});

const updateDoc = operation({
  summary: 'Update a user (username, email, enabled, password, default region)',
  description:
    'Disabling a user or changing its password revokes all its tokens. MFA attributes in the body are ignored: they have their own calls.',
  tag: Tags.users,
  responses: {
    200: described(UserResponseSchema, 'The updated user.'),
    400: fault(400, 'A field is invalid.', USER_FIELD_ERRORS),
    403: fault(403, 'The caller may not change that user, or itself in that way.', [
      Messages.notAuthorized,
      AuthorizationMessages.ownEnabled,
    ]),
    404: userNotFound,
    409: fault(409, 'The username is taken.', ["User with username: 'alice' already exists."]),
  },
});

const deleteDoc = operation({
  summary: 'Delete a user',
  description: 'Its tokens, devices and codes go with it.',
  tag: Tags.users,
  responses: {
    204: noContent('Deleted.'),
    403: fault(403, 'The caller may not delete that user.', [
      Messages.notAuthorized,
      AuthorizationMessages.ownerDelete,
    ]),
    404: userNotFound,
  },
});

export function registerUserRoutes(app: HttpServer, deps: Deps): void {
  app.post('/v2.0/users', { schema: { body: userBody, ...createDoc } }, async (request, reply) => {
    const caller = await requireCaller(deps, request);
    const input = request.body.user;
    const created = await createUser(deps, caller, {
      ...userFieldsOf(input),
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
        ...listDoc,
      },
    },
    async (request) => {
      const caller = await requireCaller(deps, request);
      if (request.query.name !== undefined) {
        return { user: renderUser(deps, await getUserByNameFor(deps, caller, request.query.name)) };
      }
      const users = await listUsersFor(deps, caller, request.query.email);
      return { users: users.map((user) => renderUser(deps, user)) };
    },
  );

  app.get('/v2.0/users/:userId', { schema: { params: userParams, ...getDoc } }, async (request) => {
    const caller = await requireCaller(deps, request);
    return { user: renderUser(deps, await getUserFor(deps, caller, request.params.userId)) };
  });

  app.post(
    '/v2.0/users/:userId',
    { schema: { params: userParams, body: userBody, ...updateDoc } },
    async (request) => {
      const caller = await requireCaller(deps, request);
      const input = request.body.user;
      // MFA attributes in the body are ignored (reference §6.5): they are not in the schema's fields.
      const updated = await updateUser(deps, caller, request.params.userId, userFieldsOf(input));
      return { user: renderUser(deps, updated) };
    },
  );

  app.delete(
    '/v2.0/users/:userId',
    { schema: { params: userParams, ...deleteDoc } },
    async (request, reply) => {
      const caller = await requireCaller(deps, request);
      await deleteUser(deps, caller, request.params.userId);
      return reply.code(204).send();
    },
  );
}
