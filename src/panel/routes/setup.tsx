import type { FastifyInstance } from 'fastify';
import type { Deps } from '../../deps.js';

export function registerSetupRoutes(_app: FastifyInstance, _deps: Deps): void {}
