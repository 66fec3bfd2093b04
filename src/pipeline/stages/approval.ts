// Stage: the policy's require_approval obligation carried out. The allowed call is held
// until a person approves that exact call (session, principal, tool, the tool's definition
// hash, the canonical argument digest), and runs only then, once. How the person is asked:
//   - the caller, by MCP elicitation (form mode), when the obligation allows self-approval
//     and the client declared form elicitation;
//   - else, for a client that declared URL elicitation, URL_ELICITATION_REQUIRED
//     (URLElicitationRequired) at once, naming the approval page: the client shows it and
//     calls again once approved (the retry finds the approval by its binding);
//   - else the call waits, with progress notifications naming the approval page when the
//     client gave a progress token, until the approval's timeout.
// A retry of the same call finds the same approval (no second request, no second webhook).
// Calls without the obligation pay one property read.
import { URL_ELICITATION_REQUIRED } from '../../mcp/jsonrpc/codes.js';
import { RpcError } from '../../mcp/jsonrpc/errors.js';
import type { ApprovalObligation } from '../../policy/obligations.js';
import type { ApprovalRecord } from '../../sessions/approvals.js';
import { StoreUnavailableError } from '../../sessions/store.js';
import { CancellationSource, type Cancellation } from '../../util/cancellation.js';
import type { UpstreamRegistry } from '../../upstreams/registry.js';
import { subjectOf, type ApprovalDesk } from '../approval-desk.js';
import { denyWith, type Stage, type StageOutcome } from '../chain.js';
import type { RequestContext } from '../context.js';

/** A credential closer than this to its expiry is fetched again after a wait. */
const CREDENTIAL_MARGIN_MS = 30_000;

/** What the client declared at initialize about elicitation (2025-06-18 and 2025-11-25 forms). */
export function elicitationModes(capabilities: Record<string, unknown>): {
  form: boolean;
  url: boolean;
} {
  const elicitation = capabilities.elicitation;
  if (typeof elicitation !== 'object' || elicitation === null) return { form: false, url: false };
  const modes = elicitation as Record<string, unknown>;
  const url = typeof modes.url === 'object' && modes.url !== null;
  // `elicitation: {}` (the older form) means form mode.
  const form = (typeof modes.form === 'object' && modes.form !== null) || !url;
  return { form, url };
}

export function holdForApproval(
  desk: ApprovalDesk,
  registry: UpstreamRegistry,
  credential: Stage,
): Stage {
  const denied = (record: ApprovalRecord): StageOutcome =>
    denyWith(
      'approval_denied',
      `${subjectOf(record.decidedBy)} denied approval of this call${
        record.comment ? `: ${record.comment}` : ''
      }; the same call is refused until ${new Date(record.expiresAt).toISOString()}`,
    );

  /** Runs the approved call: the approval used once, a fresh credential if it is stale. */
  const proceed = async (ctx: RequestContext, record: ApprovalRecord): Promise<StageOutcome> => {
    const { target } = ctx;
    // The tool may have changed while the call waited: its approval was for the old one.
    const now =
      target?.kind === 'tool' ? registry.catalog.tools.get(target.entry.exposed.name) : undefined;
    if (!now || now.definitionHash !== record.definitionHash) {
      return denyWith(
        'approval_refused',
        `the definition of ${record.tool.id} changed while the call waited for approval; the approval was for the old one; call it again to ask anew`,
      );
    }
    const used = await desk.use(record, ctx.caller.remoteAddress, ctx.requestId);
    if (used.kind !== 'used') {
      return denyWith(
        'approval_refused',
        used.kind === 'not_approved'
          ? `the approval of this call is ${used.state}; call it again to ask anew`
          : 'the approval does not match this call; denied',
      );
    }
    const expiresAt = ctx.credential?.expiresAt;
    if (expiresAt !== undefined && expiresAt - Date.now() < CREDENTIAL_MARGIN_MS) {
      return credential.run(ctx);
    }
    return undefined;
  };

  const progress = (ctx: RequestContext, record: ApprovalRecord) => {
    const token = ctx.params._meta?.progressToken;
    const exchange = ctx.exchange;
    const totalS = Math.round((record.expiresAt - record.createdAt) / 1000);
    return (elapsedMs: number): void => {
      if (token === undefined || !exchange) return;
      void exchange
        .sendNotification({
          method: 'notifications/progress',
          params: {
            progressToken: token,
            progress: Math.round(elapsedMs / 1000),
            total: totalS,
            message: `waiting for approval: ${record.reason}; approve or deny at ${desk.link(record.id)}`,
          },
        })
        .catch(() => undefined);
    };
  };

  /**
   * Asks the caller with a form; their answer is a verdict like any approver's. The question
   * is withdrawn (the client is told) when `withdraw` is cancelled: decided elsewhere.
   */
  const askCaller = (ctx: RequestContext, record: ApprovalRecord, withdraw: Cancellation): void => {
    const exchange = ctx.exchange;
    if (!exchange) return;
    exchange
      .sendRequest(
        {
          method: 'elicitation/create',
          params: {
            mode: 'form',
            message:
              `Approve this call? ${record.tool.exposed} (${record.tool.id}) with arguments ` +
              `${record.arguments}. Why approval is needed: ${record.reason}. ` +
              `It expires at ${new Date(record.expiresAt).toISOString()}.`,
            requestedSchema: {
              type: 'object',
              properties: {
                comment: {
                  type: 'string',
                  title: 'Comment (optional)',
                  description: 'Recorded with your decision',
                  maxLength: 500,
                },
              },
            },
          },
        },
        withdraw,
      )
      .then(async (answer) => {
        const content = answer.content as Record<string, unknown> | undefined;
        const comment = typeof content?.comment === 'string' ? content.comment.slice(0, 500) : '';
        // Decided like any approver's verdict; a refusal (the policy changed) leaves the
        // approval pending for the console.
        await desk.decide({
          identity: ctx.identity,
          remoteAddress: ctx.caller.remoteAddress,
          id: record.id,
          verdict: answer.action === 'accept' ? 'approve' : 'deny',
          comment: comment || `by elicitation: ${String(answer.action)}`,
        });
      })
      .catch(() => undefined); // no answer: the approval stays pending for the console
  };

  /** Holds the call until its approval settles; `held.record` is the approval once opened. */
  const hold = async (
    ctx: RequestContext,
    obligation: ApprovalObligation,
    held: { record?: ApprovalRecord },
  ): Promise<StageOutcome> => {
    if (ctx.target?.kind !== 'tool') {
      return denyWith(
        'approval_refused',
        'the policy requires approval, which is carried out for tools/call only; denied',
      );
    }
    try {
      const opened = await desk.open(ctx, obligation);
      if ('refused' in opened) return denyWith('approval_refused', opened.refused);
      const { record } = opened;
      held.record = record;
      if (record.state === 'approved') return proceed(ctx, record);
      if (record.state === 'denied') return denied(record);

      const modes = elicitationModes(ctx.session.record.clientCapabilities);
      const askByForm = obligation.self && modes.form && ctx.exchange !== undefined;
      if (!askByForm && modes.url) {
        throw new RpcError(URL_ELICITATION_REQUIRED, 'This call needs approval', {
          elicitations: [
            {
              mode: 'url',
              elicitationId: record.id,
              url: desk.link(record.id),
              message: `${record.reason}. Approve or deny it there, then call again with the same arguments (until ${new Date(record.expiresAt).toISOString()}).`,
            },
          ],
        });
      }
      // Asked again on a retry: the question of a cancelled call was withdrawn with it.
      const withdraw = new CancellationSource();
      if (askByForm) askCaller(ctx, record, withdraw);

      const outcome = await desk.wait(record, ctx.exchange?.cancellation, progress(ctx, record));
      withdraw.cancel('the approval was settled');
      switch (outcome) {
        case 'approved':
          return proceed(ctx, record);
        case 'denied':
          return denied((await desk.read(record)) ?? record);
        case 'cancelled':
          return denyWith(
            'approval_refused',
            `the client cancelled the call while it waited for approval; the approval stays open until ${new Date(record.expiresAt).toISOString()}`,
          );
        default: {
          // Timed out here (or expired, or used elsewhere): settle it and say what to do.
          const state =
            outcome === 'timeout' ? await desk.expire(record, ctx.caller.remoteAddress) : outcome;
          if (state === 'approved') return proceed(ctx, record);
          if (state === 'denied') return denied((await desk.read(record)) ?? record);
          return denyWith(
            'approval_expired',
            `no approval within ${Math.round((record.expiresAt - record.createdAt) / 1000)} s (${record.reason}); the request at ${desk.link(record.id)} has expired: call again to ask anew`,
          );
        }
      }
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      return denyWith(
        'store_unavailable',
        `${err.message}; the call needs approval and was denied (fail closed)`,
      );
    }
  };

  return {
    name: 'hold for human approval (require_approval)',
    when: 'allowed',
    // Synchronous for a call that needs no approval (nearly all): no promise per call.
    run(ctx: RequestContext): StageOutcome | Promise<StageOutcome> {
      const obligation: ApprovalObligation | undefined = ctx.obligations.approval;
      if (obligation === undefined) return undefined;
      return holdAndLog(ctx, obligation);
    },
  };

  async function holdAndLog(
    ctx: RequestContext,
    obligation: ApprovalObligation,
  ): Promise<StageOutcome> {
    const held: { record?: ApprovalRecord } = {};
    const outcome = await hold(ctx, obligation, held);
    // The call's line was written before the hold, as an allow: a refusal of the
    // gateway's own is logged here. A person's denial and an expiry have their events.
    const denial = outcome !== undefined && 'deny' in outcome ? outcome.deny : undefined;
    if (denial && denial.code !== 'approval_denied' && denial.code !== 'approval_expired') {
      desk.logRefusal(ctx, obligation, denial.reason, held.record);
    }
    return outcome;
  }
}
