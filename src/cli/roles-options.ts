import { ROLES, type Role } from '../domain/roles.js';
import { CliError } from './io.js';

/** The role options of `token create`, `user create` and `user update`. */
export interface RoleOptions {
  role?: string;
  app?: string[];
  serverAdmin?: boolean;
  /** The single scope before per-app roles (read, publish, admin), still accepted. */
  scope?: string;
}

/** Collects a repeated option (`--app A --app B`) into a list. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/**
 * The request body's `roles` (or the old `scope`) for these options: `--role R` alone is R on all
 * apps, with `--app A` (repeatable) R on those apps only; `--server-admin` a server-wide admin.
 * Nothing given: `fallback` on all apps (what the command gave before roles).
 */
export function rolesBody(options: RoleOptions, fallback: Role): Record<string, unknown> {
  const apps = options.app ?? [];
  if (options.scope !== undefined) {
    if (options.role !== undefined || apps.length > 0 || options.serverAdmin)
      throw new CliError('give --scope or --role/--app/--server-admin, not both');
    if (!['read', 'publish', 'admin'].includes(options.scope))
      throw new CliError(`--scope must be read, publish or admin, not "${options.scope}"`);
    return { scope: options.scope };
  }
  if (options.serverAdmin) {
    if (options.role !== undefined || apps.length > 0)
      throw new CliError('--server-admin holds every role on every app: give no --role nor --app');
    return { roles: { server_admin: true, all: 'admin' } };
  }
  const role = options.role ?? fallback;
  if (!(ROLES as readonly string[]).includes(role))
    throw new CliError(`--role must be one of ${ROLES.join(', ')}, not "${role}"`);
  if (apps.length === 0) return { roles: { all: role } };
  return { roles: { apps: Object.fromEntries(apps.map((app) => [app, role])) } };
}
