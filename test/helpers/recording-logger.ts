/** Shared by the consumer source tests (test/consumer/*-source.test.ts, source-base.test.ts). */

export function recordingLogger() {
  const lines: { level: string; obj: Record<string, unknown>; msg?: string }[] = [];
  return {
    lines,
    logger: {
      info: (obj: object, msg?: string) =>
        lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
      warn: (obj: object, msg?: string) =>
        lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
    },
  };
}
