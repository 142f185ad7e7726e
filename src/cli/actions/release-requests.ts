import type { Command } from 'commander';
import type { Page, ReleaseRequestJson } from '../../api-types.js';
import { resolveAppId } from '../capacitor.js';
import { contextOf } from '../context.js';
import { CliError, type CliIo } from '../io.js';
import { emit, fields, table } from '../output.js';

const enc = encodeURIComponent;
const STATUSES = ['pending', 'approved', 'rejected', 'failed', 'expired'];

/** A request id as typed: a whole number from 1. */
function requestId(text: string): number {
  const id = Number(text);
  if (!Number.isInteger(id) || id < 1)
    throw new CliError(`a release request id is a whole number, not "${text}"`);
  return id;
}

/** What the request asks for, in words. */
const changeOf = (r: ReleaseRequestJson) =>
  r.action === 'set' ? `make ${r.version} live` : `roll out ${r.version} to ${r.percent}%`;

const requestLine = (r: ReleaseRequestJson) =>
  `Release request ${r.id} (${changeOf(r)} on "${r.channel}", by ${r.requested_by}): ${r.status}` +
  (r.decided_by ? ` by ${r.decided_by}` : '') +
  (r.reason ? ` (${r.reason})` : '');

export async function releaseList(
  io: CliIo,
  options: { app?: string; status?: string; limit: string },
  command: Command,
): Promise<void> {
  if (options.status !== undefined && !STATUSES.includes(options.status))
    throw new CliError(`--status must be one of ${STATUSES.join(', ')}, not "${options.status}"`);
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const { items } = await (
    await ctx.api()
  ).get<Page<ReleaseRequestJson>>(`/apps/${enc(appId)}/release-requests`, {
    status: options.status,
    limit: options.limit,
  });
  emit(io, ctx.json, items, (rows) =>
    table(
      ['ID', 'CHANNEL', 'CHANGE', 'STATUS', 'BY', 'AT', 'EXPIRES', 'DECIDED BY', 'REASON'],
      rows.map((r) => [
        r.id,
        r.channel,
        changeOf(r),
        r.status,
        r.requested_by,
        r.created_at,
        r.expires_at,
        r.decided_by,
        r.reason,
      ]),
    ),
  );
}

export async function releaseInfo(
  io: CliIo,
  id: string,
  options: { app?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const found = await (
    await ctx.api()
  ).get<ReleaseRequestJson>(`/apps/${enc(appId)}/release-requests/${requestId(id)}`);
  emit(io, ctx.json, found, (r) => fields({ ...r }));
}

export async function releaseApprove(
  io: CliIo,
  id: string,
  options: { app?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const approved = await (
    await ctx.api()
  ).post<ReleaseRequestJson>(`/apps/${enc(appId)}/release-requests/${requestId(id)}/approve`);
  emit(io, ctx.json, approved, (r) => `${requestLine(r)}: the change is made`);
}

export async function releaseReject(
  io: CliIo,
  id: string,
  options: { app?: string; reason?: string },
  command: Command,
): Promise<void> {
  const ctx = contextOf(io, command);
  const appId = await resolveAppId(io.cwd, options.app);
  const rejected = await (
    await ctx.api()
  ).post<ReleaseRequestJson>(`/apps/${enc(appId)}/release-requests/${requestId(id)}/reject`, {
    reason: options.reason,
  });
  emit(io, ctx.json, rejected, requestLine);
}
