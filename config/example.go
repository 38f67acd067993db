package config

// Example returns a complete, commented configuration for the Gong job, for `scimsync` to print as a
// starting point and for the README; config_test checks that it parses and that it matches
// testdata/example.yml, so the documentation cannot drift from the code.
func Example() string {
	return example
}

const example = `# scimsync job: provision Entra ID users and groups into Gong over SCIM 2.0.
# One file per job. Every key is documented in docs/configuration.md.
name: gong                              # job name: lowercase letters, digits, dashes

source:                                 # the Entra tenant, read through Microsoft Graph
  tenantId: 00000000-0000-0000-0000-000000000001
  clientId: 00000000-0000-0000-0000-000000000002
  credential:
    type: clientSecret                  # clientSecret | certificate | workloadIdentity | managedIdentity
    secretEnv: SCIMSYNC_GRAPH_SECRET    # or secretFile: /etc/scimsync/graph-secret (never inline)
    # type: certificate
    # certificateFile: /etc/scimsync/graph.pem        # PEM (certificate + key) or PFX
    # certificatePasswordEnv: SCIMSYNC_GRAPH_CERT_PASSWORD
    # type: workloadIdentity
    # tokenFile: /var/run/secrets/azure/tokens/azure-identity-token
  cloud: public                         # public | usgovernment | china
  # graphEndpoint: https://graph.microsoft.com/v1.0   # default from cloud
  # authorityHost: https://login.microsoftonline.com/ # default from cloud
  # caFile: /etc/scimsync/ca.pem        # extra CA bundle for Graph and the authority
  servicePrincipalId: 00000000-0000-0000-0000-000000000003   # the Gong app's service principal

target:                                 # the SCIM endpoint
  url: https://example.gong.io/scim     # append ?aadOptscim062020 for Entra's compatibility behaviour
  tokenEnv: SCIMSYNC_TARGET_TOKEN       # or tokenFile: /etc/scimsync/target-token
  # caFile: /etc/scimsync/target-ca.pem
  timeout: 30s
  concurrency: 4                        # parallel SCIM requests, 1..64
  # maxConcurrency: 16                  # adaptive: start at concurrency, raise up to this, halve on 429/503
  requestsPerSecond: 25                 # 0 = unlimited
  compatibility: default                # default | aadOptscim062020 | strict
  # bulk: false                         # never send SCIM Bulk, even when the target offers it

scope: assigned                         # assigned (users and groups assigned to the app) | all
actions: {create: true, update: true, delete: true}
skipOutOfScopeDeletions: false          # true: leave users that go out of scope enabled in Gong
deletionThreshold: 500                  # stage a cycle that would delete this many; 0 = off

users:
  preset: gong                          # Gong's default mapping table (see docs/configuration.md)
  mappings:                             # replace a preset row (same target), add one, or remove one
    - target: timezone                  # known to Gong, not mapped by default
      constant: America/New_York
      apply: onCreate                   # always | onCreate
    - target: title
      expression: Coalesce([jobTitle], "Employee")
    - target: locale
      remove: true
  scoping:                              # filters are ORed; clauses within a filter are ANDed
    - title: Sales and marketing
      clauses:
        - {attribute: department, operator: EQUALS, value: Sales}
        - {attribute: accountEnabled, operator: IS TRUE}
    - title: Marketing
      clauses:
        - {attribute: department, operator: EQUALS, value: Marketing}

groups:
  enabled: true
  preset: gong
  memberBatchSize: 100                  # members per PATCH

schedule: "@every 40m"                  # 5-field cron spec or descriptor
state: /var/lib/scimsync/gong.db        # relative paths are relative to this file
logging: {level: info, format: auto}    # level debug|info|warn|error; format auto|json|console

notify:                                 # failure emails (optional)
  smtp:
    host: smtp.example.com
    port: 587
    tls: starttls                       # starttls | implicit | none
    username: scimsync
    passwordEnv: SCIMSYNC_SMTP_PASSWORD # or passwordFile
  from: scimsync@example.com
  to: [idm-team@example.com]

metrics: {listen: "127.0.0.1:9464"}     # Prometheus /metrics and /healthz (optional)
`
