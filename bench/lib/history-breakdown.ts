/**
 * Where the time of a rotation's active phase goes, read from its history:
 * the server stamps every event, so the gaps between them are task dispatch
 * (scheduled → started: the matching service handing a task to a poller),
 * work on the worker (workflow task started → completed, which includes the
 * local activities run inside that task) and activity run time (started →
 * completed). Used by bench/active-phase.ts.
 */
import { tsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';

const T = temporal.api.enums.v1.EventType;
type Event = temporal.api.history.v1.IHistoryEvent;

/** One gap between two events of the active phase, labelled by what happened in it. */
export interface Segment {
  label: string;
  ms: number;
}

function activityType(e: Event): string {
  return e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?';
}

/** The local activity type a marker records (core writes it as plain JSON in `data`). */
function markerActivity(e: Event): string | undefined {
  const data = e.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
  if (!data) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(data).toString('utf8')) as { activity_type?: string };
    return parsed.activity_type;
  } catch {
    return undefined;
  }
}

/** What a workflow task ended with: the local activities it ran and the activities it scheduled. */
function taskOutcome(events: Event[], completedAt: number): string {
  const parts: string[] = [];
  for (let i = completedAt + 1; i < events.length; i++) {
    const e = events[i]!;
    if (e.eventType === T.EVENT_TYPE_MARKER_RECORDED)
      parts.push(
        markerActivity(e) ? `LA ${markerActivity(e)}` : (e.markerRecordedEventAttributes?.markerName ?? '?'),
      );
    else if (e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) parts.push(`→ ${activityType(e)}`);
    else if (e.eventType === T.EVENT_TYPE_TIMER_STARTED) parts.push('→ timer');
    else if (e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED) break;
    else if (e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_STARTED) break;
  }
  return parts.join(', ') || 'no command';
}

/**
 * The segments from `startedAtMs` (the client's clock just before it called
 * start) to the completion of the workflow task that recorded `endMarker`
 * (a local activity type, e.g. promote), and that end time. Activities whose
 * started event the server writes only with their completion still carry
 * the time they started.
 */
export function activePhaseSegments(
  history: temporal.api.history.v1.IHistory,
  startedAtMs: number,
  endMarker: string,
): { segments: Segment[]; endMs: number } {
  const events = history.events ?? [];
  const segments: Segment[] = [];
  const at = (e: Event) => tsToMs(e.eventTime);
  const scheduled = new Map<string, Event>(); // activity scheduled event by its id
  const started = new Map<string, Event>();
  let wftScheduled: Event | undefined;
  let wftStarted: Event | undefined;
  let wftIndex = 0;
  let last = startedAtMs;
  const push = (label: string, fromMs: number, toMs: number) => segments.push({ label, ms: toMs - fromMs });
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    const id = String(e.eventId);
    switch (e.eventType) {
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        push('client start call → execution started (server)', startedAtMs, at(e));
        last = at(e);
        break;
      case T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
        wftScheduled = e;
        if (at(e) - last > 0) push('→ workflow task scheduled', last, at(e));
        break;
      case T.EVENT_TYPE_WORKFLOW_TASK_STARTED:
        wftStarted = e;
        wftIndex++;
        push(`WFT ${wftIndex} dispatch`, at(wftScheduled!), at(e));
        break;
      case T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: {
        const outcome = taskOutcome(events, i);
        push(`WFT ${wftIndex} on worker (${outcome})`, at(wftStarted!), at(e));
        last = at(e);
        if (outcome.includes(`LA ${endMarker}`)) return { segments, endMs: at(e) };
        break;
      }
      case T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        scheduled.set(id, e);
        break;
      case T.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
        const s = scheduled.get(String(e.activityTaskStartedEventAttributes?.scheduledEventId));
        started.set(String(e.activityTaskStartedEventAttributes?.scheduledEventId), e);
        if (s) push(`${activityType(s)} dispatch`, at(s), at(e));
        break;
      }
      case T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: {
        const sid = String(e.activityTaskCompletedEventAttributes?.scheduledEventId);
        const s = scheduled.get(sid);
        const st = started.get(sid);
        if (s && st) push(`${activityType(s)} run`, at(st), at(e));
        last = at(e);
        break;
      }
      default:
        break;
    }
  }
  throw new Error(`no workflow task recorded a ${endMarker} local activity`);
}

/** Median per segment label over many rotations (labels in the order of the first). */
export function medianSegments(runs: Segment[][]): Segment[] {
  const order: string[] = [];
  const byLabel = new Map<string, number[]>();
  for (const run of runs)
    for (const s of run) {
      if (!byLabel.has(s.label)) {
        order.push(s.label);
        byLabel.set(s.label, []);
      }
      byLabel.get(s.label)!.push(s.ms);
    }
  return order.map((label) => {
    const xs = [...byLabel.get(label)!].sort((a, b) => a - b);
    return { label, ms: xs[Math.floor(xs.length / 2)]! };
  });
}
