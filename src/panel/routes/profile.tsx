import type { FastifyInstance } from 'fastify';
import type { Deps } from '../../deps.js';

export function registerProfileRoutes(_app: FastifyInstance, _deps: Deps): void {}
