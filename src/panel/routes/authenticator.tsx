import type { FastifyInstance } from 'fastify';
import type { Deps } from '../../deps.js';

export function registerAuthenticatorRoutes(_app: FastifyInstance, _deps: Deps): void {}
