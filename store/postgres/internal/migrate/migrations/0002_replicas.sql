-- One row per running replica (a daemon sharing the jobs through this database): last_seen is set by
-- its heartbeat, on the database clock, and replicas count the ones seen within the lease ttl as live
-- when they divide the jobs among themselves.
CREATE TABLE scimsync.replicas (
	id         text        PRIMARY KEY,
	host       text        NOT NULL,
	started_at timestamptz NOT NULL,
	last_seen  timestamptz NOT NULL
);

-- A job an operator's command (restart, allow-deletes, …) asked the replicas to give up for a while:
-- the replica owning it releases it once its cycle ends, and no replica takes it until the request is
-- withdrawn or expires.
CREATE TABLE scimsync.job_yields (
	job       text        PRIMARY KEY,
	requester text        NOT NULL,
	until     timestamptz NOT NULL
);
