/**
 * Service-to-service API keys (R-OPS-5): `Authorization: Bearer <key>`. No key or an unknown
 * key is 401; a platform key on an operator route is 403. Keys are compared by their hash.
 */
import type { RequestHandler } from 'express';
import type { Role } from '../config/env.js';
import { BurnrateError } from '../domain/errors.js';
import { sha256 } from '../domain/hash.js';

const digest = (key: string) => sha256(key, 'base64');

export function authenticator(keys: { role: Role; key: string }[]) {
  const roles = new Map(keys.map((k) => [digest(k.key), k.role]));
  // Headers already found valid, so the hot path hashes nothing. Only valid headers enter,
  // so it holds at most one entry per configured key.
  const known = new Map<string, Role>();
  const roleOf = (header: string): Role | undefined => {
    const cached = known.get(header);
    if (cached) return cached;
    const m = /^bearer +(\S+)$/i.exec(header);
    const role = m ? roles.get(digest(m[1]!)) : undefined;
    if (role) known.set(header, role);
    return role;
  };
  return (need: Role): RequestHandler =>
    (req, _res, next) => {
      const role = roleOf(req.headers.authorization ?? '');
      if (!role)
        return next(
          new BurnrateError('unauthorized', 'a valid API key is required (Authorization: Bearer <key>)'),
        );
      if (need === 'operator' && role !== 'operator') {
        return next(new BurnrateError('forbidden', 'this route needs an operator key'));
      }
      next();
    };
}
