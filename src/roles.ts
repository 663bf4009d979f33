/** What a `start` process does; several processes on one PostgreSQL can split them (README "Scaling"). */
export const ROLES = ['poll', 'deliver', 'web'] as const;
export type Role = (typeof ROLES)[number];
