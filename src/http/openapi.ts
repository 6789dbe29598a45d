/** /openapi.json, generated from the route table and its zod schemas. */
import { z } from 'zod';
import { ROUTES } from './routes.js';
import { errorSchema } from './schemas.js';

const json = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'openapi-3.0' });

export function openApiDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  const error = {
    description: 'Error',
    content: { 'application/json': { schema: json(errorSchema, 'output') } },
  };
  for (const r of ROUTES) {
    const path = r.path.replace(/:(\w+)/g, '{$1}');
    const params = [...r.path.matchAll(/:(\w+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
    }));
    if (r.query) {
      const q = json(r.query, 'input') as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(q.properties ?? {})) {
        params.push({ name, in: 'query', required: q.required?.includes(name) ?? false, schema } as never);
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [status, res] of Object.entries(r.responses)) {
      responses[status] = res.schema
        ? {
            description: res.description,
            content: { 'application/json': { schema: json(res.schema, 'output') } },
          }
        : { ...error, description: res.description };
    }
    responses['400'] ??= { ...error, description: 'Invalid request (zod issues in details)' };
    responses['401'] = { ...error, description: 'No key or a wrong key' };
    if (r.role === 'operator') responses['403'] = { ...error, description: 'Needs an operator key' };
    responses['503'] = { ...error, description: 'Redis unreachable' };
    paths[path] ??= {};
    paths[path][r.method] = {
      summary: r.summary,
      security: [{ bearer: [] }],
      'x-role': r.role,
      parameters: params,
      ...(r.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: json(r.body, 'input') } },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'burnrate',
      version: '1',
      description: 'Credit billing: balances, flex, Stripe invoicing',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
