// Imported first by main.ts, for its side effect: OpenTelemetry starts before any other module of
// the program is evaluated (ES modules are evaluated in import order), so anything instrumented
// later finds the tracer provider in place. Also usable as `node --import ./dist/telemetry/start.js`.
import { startTelemetry } from './tracing.ts';

startTelemetry();
