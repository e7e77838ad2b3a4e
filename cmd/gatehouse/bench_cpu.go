package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"gatehouse/eventstore"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on
// every Linux architecture Go runs on.
const clockTicks = 100

// cpuTimes is CPU seconds spent over a measurement, by who spent them.
// Throughput on a shared machine drifts with its neighbours; the CPU an
// operation costs drifts far less, and says where the time goes.
type cpuTimes struct {
	client, server float64
	// pgCommands is PostgreSQL's client backends other than subscribers':
	// the server's commands and queries (and the raw inserts of (1)).
	pgCommands float64
	// pgSubscribers is the backends of read models and reactions.
	pgSubscribers float64
	// pgOther is the rest of PostgreSQL: WAL writer, checkpointer, ...
	pgOther float64
	// ok is false where /proc or PostgreSQL's processes cannot be seen.
	ok bool
}

func (c cpuTimes) postgres() float64 { return c.pgCommands + c.pgSubscribers + c.pgOther }

// Who spent CPU, in a cpuSample.
const (
	spentByClient = iota
	spentByServer
	spentByPGCommands
	spentByPGSubscribers
	spentByPGOther
)

type procSpent struct {
	seconds float64
	by      int
}

// cpuSample is the CPU each process of interest has spent so far.
type cpuSample struct {
	procs map[int]procSpent
	ok    bool
}

// sub is what was spent between before and c, by who spent it. A process
// is counted from before (or from its start, when it started since);
// one that ended meanwhile is not counted (a backend of a pool closed
// between the samples would otherwise count negative).
func (c cpuSample) sub(before cpuSample) cpuTimes {
	t := cpuTimes{ok: c.ok && before.ok}
	for pid, p := range c.procs {
		d := p.seconds
		if b, ok := before.procs[pid]; ok {
			d -= b.seconds
		}
		switch p.by {
		case spentByClient:
			t.client += d
		case spentByServer:
			t.server += d
		case spentByPGCommands:
			t.pgCommands += d
		case spentByPGSubscribers:
			t.pgSubscribers += d
		default:
			t.pgOther += d
		}
	}
	return t
}

// readCPU samples the CPU spent by this process (the clients), the server
// (serverPID, 0 for none) and every PostgreSQL process on this machine,
// its backends told apart by pg_stat_activity.
func readCPU(ctx context.Context, admin *pgx.Conn, serverPID int) cpuSample {
	c := cpuSample{procs: map[int]procSpent{}}
	self, ok := procCPU(os.Getpid())
	if !ok {
		return c
	}
	c.procs[os.Getpid()] = procSpent{self, spentByClient}
	if serverPID != 0 {
		if t, ok := procCPU(serverPID); ok {
			c.procs[serverPID] = procSpent{t, spentByServer}
		}
	}
	rows, err := admin.Query(ctx, `SELECT pid, backend_type = 'client backend', application_name = $1 FROM pg_stat_activity`, eventstore.SubscriberApplicationName)
	if err != nil {
		return c
	}
	type backend struct{ client, subscriber bool }
	backends := map[int]backend{}
	for rows.Next() {
		var pid int
		var b backend
		if rows.Scan(&pid, &b.client, &b.subscriber) == nil {
			backends[pid] = b
		}
	}
	if rows.Err() != nil {
		return c
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/comm")
	found := false
	for _, p := range procs {
		comm, err := os.ReadFile(p)
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		t, ok := procCPU(pid)
		if !ok {
			continue
		}
		found = true
		by := spentByPGOther
		switch b := backends[pid]; {
		case b.subscriber:
			by = spentByPGSubscribers
		case b.client:
			by = spentByPGCommands
		}
		c.procs[pid] = procSpent{t, by}
	}
	c.ok = found // a server elsewhere: its CPU cannot be seen from here
	return c
}

// procCPU is the user and system CPU seconds of a process so far.
func procCPU(pid int) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name may hold spaces and parentheses: fields follow the
	// last ')'. utime and stime are fields 14 and 15 of the line.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (utime + stime) / clockTicks, true
}

// cpuPerOp is CPU milliseconds per operation, by who spent them, over
// several repetitions.
type cpuPerOp struct {
	client, server, pgCommands, pgSubscribers, pgOther, postgres, total stat
}

func (p *cpuPerOp) add(c cpuTimes, ops float64) {
	if !c.ok || ops <= 0 {
		return
	}
	ms := func(s float64) float64 { return s * 1000 / ops }
	p.client = append(p.client, ms(c.client))
	p.server = append(p.server, ms(c.server))
	p.pgCommands = append(p.pgCommands, ms(c.pgCommands))
	p.pgSubscribers = append(p.pgSubscribers, ms(c.pgSubscribers))
	p.pgOther = append(p.pgOther, ms(c.pgOther))
	p.postgres = append(p.postgres, ms(c.postgres()))
	p.total = append(p.total, ms(c.client+c.server+c.postgres()))
}
