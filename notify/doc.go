// Package notify sends the failure emails of a provisioning job over SMTP, as the Entra provisioning
// service does ("Email notifications" in
// https://learn.microsoft.com/entra/identity/app-provisioning/application-provisioning-quarantine-status, and https://learn.microsoft.com/entra/identity/app-provisioning/accidental-deletions): one email when the job enters quarantine,
// another only when the quarantine reason changes, one when the deletion threshold holds back
// disables and deletes, and one when the job stops after 28 days in quarantine.
//
// The package has three layers so that each can be tested alone:
//
//   - Render turns an Event into a subject and a plain-text body from the templates embedded in
//     templates/*.tmpl. It is pure and tested with golden files.
//   - Mailer sends a Message to an SMTP relay (STARTTLS, implicit TLS or plain to loopback, optional
//     AUTH PLAIN or LOGIN). It is tested against an in-process SMTP server.
//   - Notifier decides whether an Event deserves an email (dedupe per quarantine reason), renders and
//     sends it, and swallows every failure into a log line, so that mail trouble never breaks a cycle.
package notify
