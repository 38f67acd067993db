// SCIMMY-based SCIM 2.0 test target for scimsync end-to-end tests.
//
// SCIMMY (a third-party SCIM engine) parses requests, validates them against
// the declared schemas, evaluates PATCH and builds list responses; this file
// only supplies an in-memory store, a bearer-token check and a small admin
// API for tests. It binds 127.0.0.1 only.
//
// Environment:
//   PORT        port to listen on (0 or unset: pick a free one)
//   SCIM_TOKEN  bearer token every /scim request must carry (required)
//   SCIMMY_EXIT_ON_STDIN_EOF=1  exit when stdin closes (the Go launcher sets
//               it so a crashed test binary never leaves this process behind)
//
// When listening it prints exactly one line to stdout:
//   LISTENING http://127.0.0.1:PORT/scim
//
// Admin API (no auth, loopback only, outside /scim):
//   GET  /_admin/dump   {"users":[...],"groups":[...]} exactly as stored
//   POST /_admin/reset  clears users, groups and request stats
//   GET  /_admin/stats  request counts for /scim (total, by method, by status, by endpoint)

import crypto from "node:crypto";
import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";

const HOST = "127.0.0.1";
const PORT = Number.parseInt(process.env.PORT ?? "0", 10) || 0;
const TOKEN = process.env.SCIM_TOKEN ?? "";

if (!TOKEN) {
    console.error("scimmy target: SCIM_TOKEN must be set");
    process.exit(2);
}

const GONG_URN = "urn:ietf:params:scim:schemas:extension:Gong:2.0:User";

// ---------------------------------------------------------------------------
// Schemas and resource types

const GongUser = new SCIMMY.Types.SchemaDefinition("GongUser", GONG_URN, "Gong User extension", [
    new SCIMMY.Types.Attribute("string", "stateOrProvince", {description: "State or province of the user."}),
    new SCIMMY.Types.Attribute("string", "country", {description: "Country of the user."}),
]);

SCIMMY.Resources.declare(SCIMMY.Resources.User)
    .extend(SCIMMY.Schemas.EnterpriseUser, false)
    .extend(GongUser, false);
SCIMMY.Resources.declare(SCIMMY.Resources.Group);

// ---------------------------------------------------------------------------
// In-memory store

/** @typedef {{byId: Map<string, object>, byKey: Map<string, string>, keyAttr: string, kind: string}} Table */

/** @returns {Table} */
function newTable(kind, keyAttr) {
    return {kind, keyAttr, byId: new Map(), byKey: new Map(), byExternalId: new Map(), byEmail: new Map()};
}

// Secondary indexes for non-unique lookups Entra makes: externalId, and the
// values of emails (for `emails[type eq "work"].value eq ...`). Both map a
// lower-cased value to a set of ids; hits are re-checked with SCIMMY's
// matcher, so this only narrows the candidates.
function secondaryKeys(r) {
    const ext = typeof r?.externalId === "string" ? [r.externalId.toLowerCase()] : [];
    const mails = Array.isArray(r?.emails)
        ? r.emails.map((e) => e?.value).filter((v) => typeof v === "string").map((v) => v.toLowerCase())
        : [];
    return [["byExternalId", ext], ["byEmail", mails]];
}

function indexSecondary(table, r, add) {
    for (const [name, values] of secondaryKeys(r)) {
        const idx = table[name];
        for (const v of values) {
            let ids = idx.get(v);
            if (add) {
                if (!ids) idx.set(v, (ids = new Set()));
                ids.add(r.id);
            } else if (ids) {
                ids.delete(r.id);
                if (ids.size === 0) idx.delete(v);
            }
        }
    }
}

const store = {
    users: newTable("User", "userName"),
    groups: newTable("Group", "displayName"),
};

const stats = newStats();

function newStats() {
    return {total: 0, byMethod: {}, byStatus: {}, byEndpoint: {}};
}

// Uniqueness keys are case-insensitive, as RFC 7643 declares userName and
// displayName caseExact=false.
const uniqKey = (v) => String(v).toLowerCase();

const newId = () => crypto.randomUUID();

// Plain JSON copy of a SCIMMY schema instance (drops getters/prototypes and
// undefined values), i.e. exactly what a JSON client would have sent.
const plain = (v) => JSON.parse(JSON.stringify(v));

function scimError(status, scimType, message) {
    return new SCIMMY.Types.Error(status, scimType ?? null, message);
}

// Ingress: create (resource.id undefined) or replace (PUT and PATCH, which
// SCIMMY turns into a full write of the patched resource).
function ingress(table, normalise) {
    return (resource, instance) => {
        const {schemas, id: _ignoredId, meta: _ignoredMeta, ...rest} = plain(instance);
        const data = {schemas, ...rest};
        normalise?.(data);
        const now = new Date().toISOString();
        const keyVal = data[table.keyAttr];
        if (typeof keyVal !== "string" || keyVal === "") {
            throw scimError(400, "invalidValue", `Required attribute '${table.keyAttr}' is missing`);
        }
        const key = uniqKey(keyVal);

        if (resource.id === undefined) {
            if (table.byKey.has(key)) {
                throw scimError(409, "uniqueness", `${table.kind} with ${table.keyAttr} '${keyVal}' already exists`);
            }
            const id = newId();
            const stored = {
                schemas: data.schemas,
                id,
                ...data,
                meta: {resourceType: table.kind, created: now, lastModified: now},
            };
            table.byId.set(id, stored);
            table.byKey.set(key, id);
            indexSecondary(table, stored, true);
            return stored;
        }

        const old = table.byId.get(resource.id);
        if (!old) throw scimError(404, null, `Resource ${resource.id} not found`);
        const owner = table.byKey.get(key);
        if (owner !== undefined && owner !== resource.id) {
            throw scimError(409, "uniqueness", `${table.kind} with ${table.keyAttr} '${keyVal}' already exists`);
        }
        const {meta: _oldMeta, id: _oldId, ...oldData} = old;
        const unchanged = JSON.stringify(canonical(oldData)) === JSON.stringify(canonical(data));
        const stored = {
            schemas: data.schemas,
            id: resource.id,
            ...data,
            meta: {
                resourceType: table.kind,
                created: old.meta.created,
                lastModified: unchanged ? old.meta.lastModified : now,
            },
        };
        table.byKey.delete(uniqKey(old[table.keyAttr]));
        indexSecondary(table, old, false);
        table.byKey.set(key, resource.id);
        table.byId.set(resource.id, stored);
        indexSecondary(table, stored, true);
        return stored;
    };
}

// canonical returns v with object keys sorted, for change detection.
function canonical(v) {
    if (Array.isArray(v)) return v.map(canonical);
    if (v && typeof v === "object") {
        return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]));
    }
    return v;
}

// matches applies a SCIMMY filter to one stored resource. SCIMMY 1.3.5's
// Filter.match throws on some sub-attribute filters when the resource lacks
// the attribute (e.g. emails[type eq "work"].value on a user without
// emails); treat a throw as "no match", item by item.
function matches(filter, item) {
    try {
        return filter.match([item]).length > 0;
    } catch {
        return false;
    }
}

// candidates narrows a list query with the indexes when the filter is a single
// `id eq`, `<keyAttr> eq`, `externalId eq` or `emails[value eq]` term (optionally and-ed with other terms): SCIMMY
// passes the parsed filter to egress, so a 10,000-user store does not need a
// full scan for the queries Entra sends. The result is still checked with
// SCIMMY's own matcher, so semantics (e.g. case-sensitive eq) stay SCIMMY's.
function candidates(table, filter) {
    if (filter.length === 1) {
        const term = filter[0];
        for (const [attr, expr] of Object.entries(term)) {
            if (!Array.isArray(expr) || expr.length !== 2 || typeof expr[1] !== "string") continue;
            if (String(expr[0]).toLowerCase() !== "eq") continue;
            const a = attr.toLowerCase();
            if (a === "id") {
                const r = table.byId.get(expr[1]);
                return r ? [r] : [];
            }
            if (a === table.keyAttr.toLowerCase()) {
                const id = table.byKey.get(uniqKey(expr[1]));
                return id ? [table.byId.get(id)] : [];
            }
            if (a === "externalid") {
                return [...(table.byExternalId.get(expr[1].toLowerCase()) ?? [])].map((id) => table.byId.get(id));
            }
        }
        // emails[... value eq "x" ...] or emails[...].value eq "x"
        for (const [attr, expr] of Object.entries(term)) {
            if (attr.toLowerCase() !== "emails" || !expr || Array.isArray(expr) || typeof expr !== "object") continue;
            for (const [sub, subExpr] of Object.entries(expr)) {
                if (sub.toLowerCase() !== "value" || !Array.isArray(subExpr) || subExpr.length !== 2) continue;
                if (String(subExpr[0]).toLowerCase() !== "eq" || typeof subExpr[1] !== "string") continue;
                return [...(table.byEmail.get(subExpr[1].toLowerCase()) ?? [])].map((id) => table.byId.get(id));
            }
        }
    }
    return null;
}

function egress(table) {
    return (resource) => {
        if (resource.id !== undefined) {
            const r = table.byId.get(resource.id);
            if (!r) throw scimError(404, null, `Resource ${resource.id} not found`);
            return structuredClone(r);
        }
        let list;
        if (resource.filter) {
            const f = resource.filter;
            const cands = candidates(table, f) ?? table.byId.values();
            list = [];
            for (const item of cands) if (matches(f, item)) list.push(item);
        } else {
            list = [...table.byId.values()];
        }
        return page(resource, list);
    };
}

// page pre-slices list so SCIMMY only builds schema instances for the
// requested page (building all 10,000 would make each page request slow).
// SCIMMY's ListResponse slices again from startIndex unless
// totalResults === page.length + startIndex - 1, so when that heuristic
// would misfire we hand it the prefix [0, startIndex-1+count) instead,
// which it slices correctly. With sortBy, SCIMMY must see everything.
function page(resource, list) {
    const c = resource.constraints ?? {};
    if (c.sortBy !== undefined) return list;
    const total = list.length;
    const start = c.startIndex ?? 1;
    const count = c.count ?? 20;
    const pageItems = list.slice(start - 1, start - 1 + count);
    resource.constraints = {...c, totalResults: total};
    const scimmyWouldSlice = pageItems.length >= start && total !== pageItems.length + start - 1;
    if (start === 1 || !scimmyWouldSlice) return pageItems;
    return list.slice(0, start - 1 + count);
}

function degress(table, onDelete) {
    return (resource) => {
        const r = table.byId.get(resource.id);
        if (!r) throw scimError(404, null, `Resource ${resource.id} not found`);
        table.byId.delete(resource.id);
        table.byKey.delete(uniqKey(r[table.keyAttr]));
        indexSecondary(table, r, false);
        onDelete?.(resource.id);
    };
}

// Deleting a user removes it from every group, as a real service would.
function dropMemberships(userId) {
    for (const g of store.groups.byId.values()) {
        if (!Array.isArray(g.members)) continue;
        const kept = g.members.filter((m) => m?.value !== userId);
        if (kept.length !== g.members.length) {
            if (kept.length) g.members = kept;
            else delete g.members;
            g.meta.lastModified = new Date().toISOString();
        }
    }
}

SCIMMY.Resources.User.ingress(ingress(store.users))
    .egress(egress(store.users))
    .degress(degress(store.users, dropMemberships));
// A member added twice is stored once (RFC 7644 §3.5.2.1: adding a value
// that is already present changes nothing); SCIMMY itself would append it.
function dedupeMembers(group) {
    if (!Array.isArray(group.members)) return;
    const seen = new Set();
    group.members = group.members.filter((m) => {
        const k = m?.value;
        if (k === undefined) return true;
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
    });
}

SCIMMY.Resources.Group.ingress(ingress(store.groups, dedupeMembers))
    .egress(egress(store.groups))
    .degress(degress(store.groups));

// ---------------------------------------------------------------------------
// HTTP

const app = express();
app.disable("x-powered-by");
app.set("etag", false);

const isLoopback = (addr) => addr === "127.0.0.1" || addr === "::1" || addr === "::ffff:127.0.0.1";

const admin = express.Router();
admin.use((req, res, next) => {
    if (!isLoopback(req.socket.remoteAddress)) return res.status(403).json({error: "loopback only"});
    next();
});
admin.get("/dump", (req, res) => {
    res.json({users: [...store.users.byId.values()], groups: [...store.groups.byId.values()]});
});
admin.post("/reset", (req, res) => {
    for (const t of [store.users, store.groups]) {
        t.byId.clear();
        t.byKey.clear();
        t.byExternalId.clear();
        t.byEmail.clear();
    }
    Object.assign(stats, newStats());
    res.status(204).end();
});
admin.get("/stats", (req, res) => res.json(stats));
app.use("/_admin", admin);

// Request counting for everything under /scim (after auth failures too).
app.use("/scim", (req, res, next) => {
    const parts = req.path.split("/").filter(Boolean);
    const ep = `${req.method} /${parts[0] ?? ""}${parts.length > 1 ? "/{id}" : ""}`;
    res.on("finish", () => {
        stats.total++;
        stats.byMethod[req.method] = (stats.byMethod[req.method] ?? 0) + 1;
        stats.byStatus[res.statusCode] = (stats.byStatus[res.statusCode] ?? 0) + 1;
        stats.byEndpoint[ep] = (stats.byEndpoint[ep] ?? 0) + 1;
    });
    next();
});

let baseURL = "";
const tokenBuf = Buffer.from(`Bearer ${TOKEN}`);

app.use("/scim", new SCIMMYRouters({
    type: "bearer",
    docUri: "https://datatracker.ietf.org/doc/html/rfc6750",
    handler: (req) => {
        const got = Buffer.from(req.header("authorization") ?? "");
        if (got.length !== tokenBuf.length || !crypto.timingSafeEqual(got, tokenBuf)) {
            throw new Error("Bearer token missing or invalid");
        }
    },
    context: () => undefined,
    baseUri: () => baseURL,
}));

app.use((req, res) => res.status(404).json({error: "not found"}));

const server = app.listen(PORT, HOST, () => {
    const {port} = server.address();
    baseURL = `http://${HOST}:${port}`;
    process.stdout.write(`LISTENING ${baseURL}/scim\n`);
});
server.keepAliveTimeout = 30_000;
server.on("error", (err) => {
    console.error(`scimmy target: ${err.message}`);
    process.exit(1);
});

const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
    setTimeout(() => process.exit(0), 500).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
if (process.env.SCIMMY_EXIT_ON_STDIN_EOF === "1") {
    process.stdin.on("end", () => process.exit(0));
    process.stdin.on("error", () => process.exit(0));
    process.stdin.resume();
}
