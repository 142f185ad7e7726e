import type { Kysely } from 'kysely';
import type { Grants, Role } from '../domain/roles.js';
import type { Database } from './schema.js';

/** Whose grants: a token's or a user's. */
export type Holder = { tokenId: number } | { userId: number };

/** The columns of tokens and users that carry their grants besides the per-app rows. */
export interface GrantColumns {
  server_admin: number;
  all_apps_role: Role | null;
}

/** The grants of a token or user row and its per-app roles. */
export function grantsOfRow(row: GrantColumns, apps: Iterable<[string, Role]> = []): Grants {
  return { serverAdmin: row.server_admin === 1, allApps: row.all_apps_role, apps: new Map(apps) };
}

/** The columns of tokens and users that store `grants` (the per-app roles go to app_grants). */
export const grantColumns = (grants: Grants): GrantColumns => ({
  server_admin: grants.serverAdmin ? 1 : 0,
  all_apps_role: grants.allApps,
});

/** The app_grants column and value that name a holder. */
const holderColumn = (holder: Holder): ['token_id' | 'user_id', number] =>
  'tokenId' in holder ? ['token_id', holder.tokenId] : ['user_id', holder.userId];

/** Roles on single apps (app_grants): the all-apps role and server-admin flag are on the holder's row. */
export class GrantsRepo {
  constructor(private readonly db: Kysely<Database>) {}

  /** One holder's per-app roles (an indexed lookup, for each authenticated request). */
  async appRoles(holder: Holder): Promise<[string, Role][]> {
    const [column, id] = holderColumn(holder);
    const rows = await this.db
      .selectFrom('app_grants')
      .select(['app_id', 'role'])
      .where(column, '=', id)
      .orderBy('app_id')
      .execute();
    return rows.map((row) => [row.app_id, row.role]);
  }

  /** Every token's (or user's) per-app roles, by holder id: for listings. */
  async allAppRoles(kind: 'token' | 'user'): Promise<Map<number, [string, Role][]>> {
    const column = kind === 'token' ? 'token_id' : 'user_id';
    const rows = await this.db
      .selectFrom('app_grants')
      .select([column, 'app_id', 'role'])
      .where(column, 'is not', null)
      .orderBy('app_id')
      .execute();
    const byHolder = new Map<number, [string, Role][]>();
    for (const row of rows) {
      const id = (row as Record<string, unknown>)[column] as number;
      byHolder.set(id, [...(byHolder.get(id) ?? []), [row.app_id, row.role]]);
    }
    return byHolder;
  }

  /** Replaces a holder's per-app roles (within the caller's transaction). */
  async replace(holder: Holder, apps: ReadonlyMap<string, Role>): Promise<void> {
    const [column, id] = holderColumn(holder);
    await this.db.deleteFrom('app_grants').where(column, '=', id).execute();
    if (apps.size === 0) return;
    await this.db
      .insertInto('app_grants')
      .values(
        [...apps].map(([app_id, role]) => ({
          app_id,
          role,
          token_id: 'tokenId' in holder ? holder.tokenId : null,
          user_id: 'userId' in holder ? holder.userId : null,
        })),
      )
      .execute();
  }
}
