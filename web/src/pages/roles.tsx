import { useState, type ReactElement } from 'react';
import {
  describeGrants,
  grantsFromJson,
  may,
  ROLES,
  type Grants,
  type Role,
} from '../../../src/domain/roles.js';
import type { AppJson, RolesJson } from '../api.js';
import { Badge, Field } from '../components.js';
import { useApi, useCan } from '../hooks.js';

/** What a role allows, in the picker (docs/security.md#roles). */
const ROLE_LABELS: Record<Role, string> = {
  read: 'read: sees it',
  publish: 'publish: bundles, channels',
  release: 'release: + protected channels',
  admin: 'admin: settings, tokens',
};

/** Where roles apply: every app, one app, or the whole server. */
const ALL = '*all*';
const SERVER = '*server*';

/** Roles as a badge: warn for anything with admin in it. */
export function RolesBadge({ roles }: { roles: RolesJson }) {
  const grants = grantsFromJson(roles);
  const admin =
    grants.serverAdmin || grants.allApps === 'admin' || [...grants.apps.values()].includes('admin');
  return <Badge tone={admin ? 'warn' : 'plain'}>{describeGrants(grants)}</Badge>;
}

/** The request body's `roles` for a choice of the picker. */
export type RolesChoice = { server_admin: true } | { all: Role } | { apps: Record<string, Role> };

/**
 * Picks one role and where it applies (all apps, one app, or server admin), offering only what the
 * signed-in person may give: a server admin anything; an app admin their apps (all apps when they
 * administer all). The API checks it again.
 */
export function useRolesPicker(initial: Role): { value: RolesChoice; fields: ReactElement } {
  const can = useCan();
  const apps = useApi<{ items: AppJson[] }>('/apps');
  const grants: Grants = can.grants;
  const mayAll = grants.serverAdmin || grants.allApps === 'admin';
  const places = [
    ...(mayAll ? [[ALL, 'All apps']] : []),
    ...(apps.data?.items ?? []).filter((app) => may(grants, app.id, 'admin')).map((app) => [app.id, app.id]),
    ...(grants.serverAdmin ? [[SERVER, 'The whole server (server admin)']] : []),
  ];
  const [where, setWhere] = useState<string | null>(null);
  const [role, setRole] = useState<Role>(initial);
  const chosen = where ?? places[0]?.[0] ?? ALL;
  const value: RolesChoice =
    chosen === SERVER
      ? { server_admin: true }
      : chosen === ALL
        ? { all: role }
        : { apps: { [chosen]: role } };
  const fields = (
    <>
      <Field label="Where">
        <select name="where" value={chosen} onChange={(event) => setWhere(event.target.value)}>
          {places.map(([id, label]) => (
            <option key={id} value={id}>
              {label}
            </option>
          ))}
        </select>
      </Field>
      {chosen !== SERVER && (
        <Field label="Role">
          <select name="role" value={role} onChange={(event) => setRole(event.target.value as Role)}>
            {ROLES.map((value) => (
              <option key={value} value={value}>
                {ROLE_LABELS[value]}
              </option>
            ))}
          </select>
        </Field>
      )}
    </>
  );
  return { value, fields };
}
