export { JobQueue, type JobQueueOptions } from './queue.js';
export { JobRun, type JobRunHooks } from './job-run.js';
export { JobFailure, JobSkipped, toJobError, isAbortError, delay, type FailureOptions } from './job-failure.js';
export { SecretValue } from './secret-value.js';
export type { JobContext, JobDefinition, JobFacts, JobLogLine, QuestionInput, SecretAnswer, StepDeclaration, StepHandle } from './types.js';
