// The tool_trust section: how the gateway reads and checks the upstreams' catalogs
// (docs/tool-trust.md): the periodic re-read that catches a rug pull, the bounds on what a
// server may list, and whether upstreams must be in the registry of the policy in force.
import { z } from 'zod';

export const DEFAULT_TOOL_TRUST = {
  refresh_interval_s: 300,
  max_list_items: 10_000,
  max_definition_bytes: 256 * 1024,
  registry: 'off' as const,
};

export const toolTrustSchema = z
  .strictObject({
    /** Every upstream's lists are read again this often (0: only on list_changed and reconnects). */
    refresh_interval_s: z
      .number()
      .min(0)
      .max(86_400)
      .default(DEFAULT_TOOL_TRUST.refresh_interval_s),
    /** Items one list of one upstream may have; a longer list is refused. */
    max_list_items: z
      .number()
      .int()
      .positive()
      .max(1_000_000)
      .default(DEFAULT_TOOL_TRUST.max_list_items),
    /** Largest definition of one item, as canonical JSON; a larger item is left out. */
    max_definition_bytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(DEFAULT_TOOL_TRUST.max_definition_bytes),
    /**
     * `enforce`: an upstream is connected only when the registry in the policy's bundle
     * (data.registry) lists it and its identity matches; `off`: not checked.
     */
    registry: z.enum(['off', 'enforce']).default(DEFAULT_TOOL_TRUST.registry),
  })
  .default(DEFAULT_TOOL_TRUST);

export interface ToolTrustConfig {
  refreshIntervalMs: number;
  maxListItems: number;
  maxDefinitionBytes: number;
  registry: 'off' | 'enforce';
}

export function resolveToolTrust(raw: z.infer<typeof toolTrustSchema>): ToolTrustConfig {
  return {
    refreshIntervalMs: Math.round(raw.refresh_interval_s * 1000),
    maxListItems: raw.max_list_items,
    maxDefinitionBytes: raw.max_definition_bytes,
    registry: raw.registry,
  };
}
