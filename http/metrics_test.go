package http_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// metric reads one sample from the /metrics page (0 when absent).
func metric(t *testing.T, page, series string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`)
	m := re.FindStringSubmatch(page)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMetricsCountCommandsRequestsAndProjections(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	o := h.newOrg("acme")
	company := o.setup()
	o.createUser(company, "ada@globex.test")
	o.staff("POST", "/users", map[string]any{"first_name": "A", "last_name": "B", "email": "ada@globex.test"}) // 409
	o.staff("POST", "/users", map[string]any{})                                                                // 422
	r := h.do("GET", "/metrics", "", nil)
	if r.status != 200 {
		t.Fatalf("metrics: %d", r.status)
	}
	page := string(r.body)
	checks := map[string]float64{
		`gatehouse_commands_total{command="CreateUser",outcome="ok"}`:                               1,
		`gatehouse_commands_total{command="CreateUser",outcome="conflict"}`:                         1,
		`gatehouse_commands_total{command="CreateUser",outcome="rejected"}`:                         1,
		`gatehouse_commands_total{command="ActivateCompanyPortal",outcome="ok"}`:                    1,
		`gatehouse_events_appended_total{type="UserCreated"}`:                                       1,
		`gatehouse_http_requests_total{method="POST",route="/v1/orgs/{org}/users",status="201"}`:    1,
		`gatehouse_http_requests_total{method="POST",route="/v1/orgs/{org}/users",status="409"}`:    1,
		`gatehouse_http_requests_total{method="POST",route="/v1/orgs/{org}/users",status="422"}`:    1,
		`gatehouse_http_request_duration_seconds_count{method="POST",route="/v1/orgs/{org}/users"}`: 3,
	}
	for series, want := range checks {
		if got := metric(t, page, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	eventually(t, "users projection position on /metrics", func() bool {
		page := string(h.do("GET", "/metrics", "", nil).body)
		return metric(t, page, `gatehouse_projection_position{group="users"}`) > 0 &&
			metric(t, page, `gatehouse_projection_lag_events{group="users"}`) >= 0 &&
			strings.Contains(page, "gatehouse_events_head_position")
	})
	if strings.Contains(page, o.token) {
		t.Fatal("a token appears on /metrics")
	}
}
