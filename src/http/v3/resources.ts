import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { type Caller, may, seesEveryDomain } from '../../access/caller.js';
import { atLeast } from '../../access/roles.js';
import { changeOwnPassword } from '../../auth/password-change.js';
import { forbidden, notFound } from '../../core/errors.js';
import type { JsonObject } from '../../core/json.js';
import { DEFAULT_DOMAIN, findUserById } from '../../identity/users.js';
import { TOO_MANY_FAILURES } from '../../lockout/source-failures.js';
import type { Deps } from '../../services/deps.js';
import { type UserView, userView } from '../../store/schema.js';
import { requireCaller } from '../auth.js';
import { baseUrlOf } from '../discovery.js';
import { described, noContent, Tags } from '../openapi.js';
import type { HttpServer } from '../server-instance.js';
import { keystoneFault, v3Operation } from './openapi.js';
import { v3Catalog } from './render.js';

/**
 * Keystone's everyday read-only resources and the self-service password change, over latchkey's
 * mapping (render.ts): an account is a domain holding one project of the same id, named by its
 * id; users without an account are in `default`, which holds no project. Who sees what is asked
 * of the authorization module; the bodies, links and errors are Keystone's.
 */
export function v3ResourceRoutes(app: HttpServer, deps: Deps): void {
  app.get('/auth/catalog', { schema: catalogDoc }, async (request) => {
    const caller = await requireCaller(deps, request);
    if (caller.user.domain_id === null) throw forbidden(Keystone.catalogNeedsProject);
    const base = baseUrlOf(request);
    return {
      catalog: v3Catalog(deps, caller.user.domain_id, base),
      links: { self: `${base}/v3/auth/catalog` },
    };
  });

  app.get('/auth/projects', { schema: authProjectsDoc }, async (request) => {
    const caller = await requireCaller(deps, request);
    return collection(request, 'projects', await projectsOf(deps, request, caller.user));
  });

  // Domains a token can be scoped to: latchkey issues no domain-scoped tokens, so none.
  app.get('/auth/domains', { schema: authDomainsDoc }, async (request) => {
    await requireCaller(deps, request);
    return collection(request, 'domains', []);
  });

  app.get('/domains/:domainId', { schema: { params: domainParams, ...domainDoc } }, async (request) => {
    const caller = await requireCaller(deps, request);
    const { domainId } = request.params;
    const domain = await domainBody(deps, request, domainId);
    if (!domain) throw notFound(`Could not find domain: ${domainId}.`);
    if (!may(caller, { kind: 'domain.view-v3', domainId }))
      throw forbidden(Keystone.forbiddenAction('identity:get_domain'));
    return { domain };
  });

  // Keystone lets system readers list every project and refuses a project-scoped token; the stock
  // client takes that 403 as its cue to ask for the user's own projects instead.
  app.get('/projects', { schema: { querystring: projectFilters, ...projectsDoc } }, async (request) => {
    const caller = await requireCaller(deps, request);
    if (!seesEveryDomain(caller.user)) throw forbidden(Keystone.forbiddenAction('identity:list_projects'));
    const { name, domain_id: domainId, enabled } = request.query;
    let query = deps.db
      .selectFrom('domains')
      .select(['id', 'description', 'enabled'])
      .orderBy('id')
      .limit(MAX_LISTED_PROJECTS + 1);
    // A project's name, id and domain are all its account id.
    for (const value of [name, domainId]) if (value !== undefined) query = query.where('id', '=', value);
    if (enabled !== undefined) query = query.where('enabled', '=', enabled.toLowerCase() === 'true' ? 1 : 0);
    const rows = await query.execute();
    const body = collection(
      request,
      'projects',
      rows.slice(0, MAX_LISTED_PROJECTS).map((row) => projectBody(request, row)),
    );
    return rows.length > MAX_LISTED_PROJECTS ? { ...body, truncated: true } : body;
  });

  app.get(
    '/users/:userId/projects',
    { schema: { params: userParams, querystring: projectFilters, ...userProjectsDoc } },
    async (request) => {
      const caller = await requireCaller(deps, request);
      const target = await visibleUser(deps, caller, request.params.userId, 'identity:list_user_projects');
      const { name, domain_id: domainId, enabled } = request.query;
      const projects = (await projectsOf(deps, request, target)).filter(
        (project) =>
          (name === undefined || project.name === name) &&
          (domainId === undefined || project.domain_id === domainId) &&
          (enabled === undefined || String(project.enabled) === enabled.toLowerCase()),
      );
      return collection(request, 'projects', projects);
    },
  );

  app.post(
    '/users/:userId/password',
    { schema: { params: userParams, body: passwordChangeBody, ...passwordDoc } },
    async (request, reply) => {
      const caller = await requireCaller(deps, request);
      const { userId } = request.params;
      // Only one's own, whoever the caller is: others' passwords are set with v2.0.
      if (userId !== caller.user.id) throw forbidden(Keystone.forbiddenAction('identity:change_password'));
      const { original_password: original, password } = request.body.user;
      await changeOwnPassword(deps, caller, userId, original, password);
      return reply.code(204).send();
    },
  );
}

/** Keystone's own wording for these answers (keystone/exception.py). */
export const Keystone = {
  catalogNeedsProject: 'A project-scoped token is required to produce a service catalog.',
  forbiddenAction: (action: string) => `You are not authorized to perform the requested action: ${action}.`,
  userNotFound: (id: string) => `Could not find user: ${id}.`,
} as const;

/**
 * The user named in the path, when the caller may look at it: anyone else gets 403 whether or
 * not the id exists, so an ordinary user learns nothing of others' ids; those who may see users
 * get Keystone's 404 for an unknown one.
 */
async function visibleUser(deps: Deps, caller: Caller, userId: string, action: string): Promise<UserView> {
  if (userId === caller.user.id) return caller.user;
  const row = await findUserById(deps.db, userId);
  const target = row && userView(row);
  if (target && may(caller, { kind: 'user.list-projects', target })) return target;
  if (!target && atLeast(caller.user, 'identity:user-manage')) throw notFound(Keystone.userNotFound(userId));
  throw forbidden(Keystone.forbiddenAction(action));
}

interface ProjectBody extends JsonObject {
  id: string;
  name: string;
  domain_id: string;
  enabled: boolean;
}

/** A user's projects: its account's one project, or none for users outside any account. */
async function projectsOf(deps: Deps, request: FastifyRequest, user: UserView): Promise<ProjectBody[]> {
  if (user.domain_id === null) return [];
  const domain = await deps.db
    .selectFrom('domains')
    .select(['id', 'description', 'enabled'])
    .where('id', '=', user.domain_id)
    .executeTakeFirst();
  return domain ? [projectBody(request, domain)] : [];
}

/** An account as Keystone renders a project: top-level in its own domain, named by its id. */
function projectBody(
  request: FastifyRequest,
  domain: { id: string; description: string; enabled: number },
): ProjectBody {
  return {
    id: domain.id,
    name: domain.id,
    domain_id: domain.id,
    description: domain.description,
    enabled: domain.enabled === 1,
    parent_id: domain.id,
    is_domain: false,
    tags: [],
    options: {},
    links: { self: `${baseUrlOf(request)}/v3/projects/${domain.id}` },
  };
}

/** Keystone's `list_limit` for GET /v3/projects; more is `truncated`. */
const MAX_LISTED_PROJECTS = 1000;

async function domainBody(
  deps: Deps,
  request: FastifyRequest,
  domainId: string,
): Promise<JsonObject | undefined> {
  const self = { self: `${baseUrlOf(request)}/v3/domains/${domainId}` };
  if (domainId === DEFAULT_DOMAIN.id) {
    return {
      id: DEFAULT_DOMAIN.id,
      name: DEFAULT_DOMAIN.name,
      description: 'The users of no account.',
      enabled: true,
      tags: [],
      options: {},
      links: self,
    };
  }
  const row = await deps.db
    .selectFrom('domains')
    .select(['id', 'name', 'description', 'enabled'])
    .where('id', '=', domainId)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    enabled: row.enabled === 1,
    tags: [],
    options: {},
    links: self,
  };
}

/** Keystone's collection: the members and the links of the page (never more than one here). */
function collection(request: FastifyRequest, key: string, members: JsonObject[]): JsonObject {
  const path = request.url.split('?')[0] ?? '';
  return {
    [key]: members,
    links: { self: `${baseUrlOf(request)}${path}`, previous: null, next: null },
  };
}

// Any string: an id of no user or domain is answered as Keystone answers one (403 or 404).
const pathId = (description: string) => Type.String({ description });
const userParams = Type.Object({ userId: pathId('The user id.') });
const domainParams = Type.Object({
  domainId: pathId('An account (domain) id, or `default`.'),
});
const projectFilters = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 64 })),
  domain_id: Type.Optional(Type.String({ maxLength: 64 })),
  enabled: Type.Optional(Type.String({ maxLength: 8 })),
});

const passwordChangeBody = Type.Object({
  user: Type.Object({
    original_password: Type.String({ minLength: 1, maxLength: 1024, description: 'The current password.' }),
    password: Type.String({ minLength: 1, maxLength: 1024, description: 'The new password.' }),
  }),
});

const Links = Type.Object({
  self: Type.String(),
  previous: Type.Union([Type.String(), Type.Null()]),
  next: Type.Union([Type.String(), Type.Null()]),
});
const ProjectSchema = Type.Object({
  id: Type.String({ description: 'The account id.' }),
  name: Type.String({ description: 'The account id too (names are ids here).' }),
  domain_id: Type.String(),
  description: Type.String(),
  enabled: Type.Boolean(),
  parent_id: Type.String(),
  is_domain: Type.Boolean(),
  tags: Type.Array(Type.String()),
  options: Type.Object({}),
  links: Type.Object({ self: Type.String() }),
});
const DomainSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.String(),
  enabled: Type.Boolean(),
  tags: Type.Array(Type.String()),
  options: Type.Object({}),
  links: Type.Object({ self: Type.String() }),
});
const projectsFound = (description: string) =>
  described(Type.Object({ projects: Type.Array(ProjectSchema), links: Links }), description);

const catalogDoc = v3Operation({
  summary: "The service catalog of the token's project",
  tag: Tags.v3,
  responses: {
    200: described(
      Type.Object({
        catalog: Type.Array(Type.Object({}, { additionalProperties: true })),
        links: Type.Object({ self: Type.String() }),
      }),
      'The catalog as in a token body: latchkey itself as `identity`, then the configured services.',
    ),
    403: keystoneFault(403, 'The token has no project (a user outside any account).', [
      Keystone.catalogNeedsProject,
    ]),
  },
});

const projectsDoc = v3Operation({
  summary: 'Every project (account), for administrators',
  description: 'Filters: name, domain_id, enabled. At most 1000, then `truncated`.',
  tag: Tags.v3,
  responses: {
    200: described(
      Type.Object({
        projects: Type.Array(ProjectSchema),
        links: Links,
        truncated: Type.Optional(Type.Boolean()),
      }),
      'Every account as a project.',
    ),
    403: keystoneFault(403, 'Anyone but an administrator (the stock client then lists the user’s own).', [
      Keystone.forbiddenAction('identity:list_projects'),
    ]),
  },
});

const authProjectsDoc = v3Operation({
  summary: 'The projects the token could be scoped to',
  tag: Tags.v3,
  responses: { 200: projectsFound("The account's project; none for users outside any account.") },
});

const authDomainsDoc = v3Operation({
  summary: 'The domains the token could be scoped to',
  tag: Tags.v3,
  responses: {
    200: described(
      Type.Object({ domains: Type.Array(DomainSchema), links: Links }),
      'Always empty: latchkey issues no domain-scoped tokens.',
    ),
  },
});

const domainDoc = v3Operation({
  summary: 'A domain: the caller’s own account, or `default`',
  description:
    'An account is a domain. Every user sees its own account and `default`; administrators see every account.',
  tag: Tags.v3,
  responses: {
    200: described(Type.Object({ domain: DomainSchema }), 'The domain.'),
    403: keystoneFault(403, 'Another account’s domain.', [Keystone.forbiddenAction('identity:get_domain')]),
    404: keystoneFault(404, 'No such domain.', ['Could not find domain: 12345.']),
  },
});

const userProjectsDoc = v3Operation({
  summary: "A user's projects",
  description:
    "The user itself, its account's owner and user managers, and administrators over it may list them. Filters: name, domain_id, enabled.",
  tag: Tags.v3,
  responses: {
    200: projectsFound("The user's account's project; none for users outside any account."),
    403: keystoneFault(403, 'A user the caller may not see.', [
      Keystone.forbiddenAction('identity:list_user_projects'),
    ]),
    404: keystoneFault(404, 'No such user (to those who may see users).', [Keystone.userNotFound('…')]),
  },
});

const passwordDoc = v3Operation({
  summary: 'Change one’s own password',
  description:
    "Keystone's self-service change: the token's own user, proving its current password. The current password counts towards the password lock and the per-source failure limit as a login does; the new one must meet the password policy and differ from the recent ones (LATCHKEY_PASSWORD_HISTORY). Every token of the user is revoked, the one used here included.",
  tag: Tags.v3,
  responses: {
    204: noContent('Changed; log in again with the new password.'),
    400: keystoneFault(400, 'The new password breaks the policy or was used recently.'),
    401: keystoneFault(401, 'The current password is wrong, or the password login is locked.'),
    403: keystoneFault(403, 'Another user’s password (set it with v2.0 instead).'),
    429: keystoneFault(429, 'Too many failed authentications from this address.', [TOO_MANY_FAILURES], {
      'Retry-After': Type.String({ description: 'Seconds to wait.' }),
    }),
  },
});
