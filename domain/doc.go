// Package domain holds Gatehouse's business rules: organizations and their
// portal, customer companies, portal users and their invitations. State is
// rebuilt from events (Apply) and decisions are pure functions that return
// the events a command produces or a typed *Error.
//
// The domain never reads clocks, random sources or storage: the current time,
// new ids, token hashes and password hashes are passed in. It must not import
// SQL, HTTP, Watermill or any other adapter.
package domain
