-- scimsync state, version 1. Every row carries the job name: several jobs (and replicas) share one
-- database. Anchors keep scimsync's binary record (rec), so mapped values keep their Go types.
CREATE TABLE scimsync.kv (
	job   text  NOT NULL,
	ns    text  NOT NULL, -- 'meta' (internal), 'kv' (GetMeta/SetMeta), 'watermark'
	key   text  NOT NULL,
	value bytea NOT NULL,
	PRIMARY KEY (job, ns, key)
);

CREATE SEQUENCE scimsync.anchor_writes;

CREATE TABLE scimsync.anchors (
	job        text   NOT NULL,
	kind       text   NOT NULL,
	source_id  text   NOT NULL,
	target_id  text   NOT NULL DEFAULT '',
	created_ns bigint,
	-- wseq orders writes, so that of two anchors claiming one target id the last written wins.
	wseq       bigint NOT NULL DEFAULT nextval('scimsync.anchor_writes'),
	rec        bytea  NOT NULL,
	PRIMARY KEY (job, kind, source_id)
);
CREATE INDEX anchors_target ON scimsync.anchors (job, kind, target_id) WHERE target_id <> '';

CREATE TABLE scimsync.escrows (
	job       text  NOT NULL,
	kind      text  NOT NULL,
	source_id text  NOT NULL,
	rec       jsonb NOT NULL,
	PRIMARY KEY (job, kind, source_id)
);

CREATE TABLE scimsync.staged (
	job       text  NOT NULL,
	kind      text  NOT NULL,
	source_id text  NOT NULL,
	rec       jsonb NOT NULL,
	PRIMARY KEY (job, kind, source_id)
);

CREATE TABLE scimsync.cycles (
	job text   NOT NULL,
	seq bigint GENERATED ALWAYS AS IDENTITY,
	id  text   NOT NULL,
	rec jsonb  NOT NULL,
	PRIMARY KEY (job, id)
);
CREATE INDEX cycles_seq ON scimsync.cycles (job, seq);

CREATE TABLE scimsync.log (
	job      text   NOT NULL,
	at_ns    bigint NOT NULL,
	id       text   COLLATE "C" NOT NULL,
	cycle_id text   NOT NULL DEFAULT '',
	rec      jsonb  NOT NULL,
	PRIMARY KEY (job, at_ns, id)
);
CREATE INDEX log_cycle ON scimsync.log (job, cycle_id);

CREATE TABLE scimsync.sets (
	job     text NOT NULL,
	name    text NOT NULL,
	key     text NOT NULL,
	members text[],
	PRIMARY KEY (job, name, key)
);

-- One row per job: who may write its state until when. token grows with every change of holder and
-- every state write checks it (fencing), so a holder that lost the lease cannot write.
CREATE TABLE scimsync.job_leases (
	job         text        PRIMARY KEY,
	holder      text        NOT NULL,
	token       bigint      NOT NULL,
	acquired_at timestamptz NOT NULL,
	expires_at  timestamptz NOT NULL
);
