import { Type } from 'typebox';

/**
 * Path and filter ids have a shape (API.md "Ids"): users, phones, OTP devices and tokens are 32
 * lowercase hex, domains are numeric. A value of another shape cannot name anything, so it is
 * refused before any query (a path id: 404, see faults.ts; a filter: 400).
 */
export const hexId = () => Type.String({ pattern: '^[0-9a-f]{32}$' });
export const domainId = () => Type.String({ pattern: '^[0-9]{1,18}$' });
