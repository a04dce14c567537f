// Package jobs is the node's job service: the bounded queue that every
// encrypted evaluation goes through, its workers, the persistence of
// asynchronous jobs, their resumption after a restart, and the retention of
// finished jobs and their blobs.
//
// Most callers want [Start] with a [Store] ([NewSQLStore] on the node's
// database) and a [Blobs] (the node's *store.Blobs), then [Service.Run] for a
// synchronous job and [Service.Submit] for an asynchronous one.
//
// # What this package owns, and what it does not
//
// The service knows how jobs are queued, run, recorded and forgotten, not
// what they compute: a job's computation is a [Work], built by the caller
// (package api builds one from an inference request). For a job that a
// previous run left queued or running, [Config.Resume] turns its [Record]
// and input bytes back into a Work. The request and response types (the
// job states and [schema.JobInfo]) are api/schema's, so that the client SDK
// shares them without linking the server; errors are this package's
// sentinels, which api maps to HTTP status codes in its one table.
//
// # Jobs
//
//   - Every job waits in one queue of Config.QueueSize jobs, served by
//     Config.Workers workers. Admission fails fast with [ErrQueueFull] when
//     the queue has no room, and with [ErrShuttingDown] once
//     [Service.Shutdown] was called.
//   - A synchronous job ([Service.Run]) lives in memory and answers its
//     caller; it is cancelled when the caller's context ends.
//   - An asynchronous job ([Service.Submit]) stores its input as a
//     content-addressed blob and is recorded as a row that survives
//     restarts; its progress and status are recorded as it runs, and its
//     result is a blob kept until the retention expires. Its input blob is
//     released as soon as it finishes. Submitted without a Work, it waits
//     as its row and blob alone, and Config.Resume builds its Work when it
//     starts.
//   - At [Start], the jobs a previous run left queued or running are queued
//     again, oldest first; those beyond the queue's room, or whose Work
//     cannot be rebuilt, fail with a message saying so.
//   - [Service.Shutdown] refuses new jobs and lets the queued and running
//     ones finish until its context ends; then it cancels them, and an
//     interrupted asynchronous job goes back to queued, to run after the
//     next start.
//   - A janitor forgets, every hour, finished jobs older than
//     Config.Retention, with their results.
//
// # Blobs
//
// Blobs are content-addressed, so two jobs with the same input bytes share
// one blob, and a blob may be deleted only when no row refers to it. The
// service holds one lock over "store the input blob and record the row"
// and over "count a blob's references and delete it": a job that finishes
// while an identical input is being submitted cannot delete those bytes in
// between.
//
// # Persistence
//
// [Store] is the persistence of job rows, kept free of any one database's
// dialect so that a PostgreSQL implementation can stand beside
// [SQLStore]. The jobs table belongs to the store component "jobs". Nodes
// released before this package created the same table in migration 3 of
// the component "api"; that migration stays where it was (a released
// migration is never edited or removed) and runs first, so this package's
// first migration creates the table only where it does not exist: a fresh
// database and one made by an older release end with the same table.
package jobs
