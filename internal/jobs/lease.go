package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aios-edge/aios/api/schema"
)

// Leases (Config.Lease): what replicas sharing one store do so that each
// asynchronous job runs on one of them at a time and its outcome is written
// once.
//
//   - A worker leases a job before it runs it ([Leaser.Claim] of its id): a
//     job that another replica leased first is skipped.
//   - An idle replica (fewer jobs queued and running than workers) polls
//     the store every Config.Poll for the oldest waiting job, leases it and
//     runs it, its Work built by Config.Resume from its row and input:
//     jobs submitted through a busy replica, put back by a replica that
//     shut down, or leased by one that died (after the lease expired).
//   - While a job runs, its lease is renewed every third of Config.Lease;
//     when the renewal finds the lease taken over, the job is cancelled and
//     its outcome dropped.
//   - The job's outcome is written under its lease (Update.Lease), which
//     fails for a replica that lost it: a job has one result.
//   - A job leased more than Config.MaxAttempts times fails.

// lease leases job j for this replica, unless j came with a lease (from
// poll), and starts its renewals; run is false when j must not run here.
func (s *Service) lease(j *job) (run bool, err error) {
	if j.lease == "" {
		j.lease = s.leaseToken()
		now := time.Now()
		r, attempts, ok, err := s.leaser.Claim(context.Background(), j.id, j.lease, now, now.Add(s.cfg.Lease))
		if err != nil || !ok {
			return false, err
		}
		if attempts > s.cfg.MaxAttempts {
			s.giveUp(j, attempts)
			return false, nil
		}
		j.inputBlob = r.InputBlob
	}
	go s.renew(j)
	return true, nil
}

// leaseToken returns a new lease token of this replica.
func (s *Service) leaseToken() string { return s.cfg.Holder + "/" + newID() }

// giveUp fails a job that was leased too many times.
func (s *Service) giveUp(j *job, attempts int) {
	s.log.Error("job given up", "job", j.id, "attempts", attempts)
	s.setStatus(j, Update{Status: schema.JobFailed, FinishedAt: time.Now().UTC(),
		Error: fmt.Sprintf("gave up after %d attempts: the replicas that ran it stopped before it finished", attempts-1)})
}

// renew renews j's lease until j ends; when the lease is lost it cancels j.
func (s *Service) renew(j *job) {
	t := time.NewTicker(s.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-j.done:
			return
		case <-j.ctx.Done():
			return
		case <-t.C:
		}
		err := s.leaser.Renew(context.Background(), j.id, j.lease, time.Now().Add(s.cfg.Lease))
		switch {
		case errors.Is(err, ErrLeaseLost):
			j.lost.Store(true)
			j.cancel()
			return
		case err != nil:
			s.log.Warn("renew job lease", "job", j.id, "err", err)
		}
	}
}

// poll leases waiting jobs from the store while this replica has idle
// workers, until ctx ends.
func (s *Service) poll(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		for int(s.running.Load())+len(s.queue) < s.cfg.Workers && ctx.Err() == nil {
			if !s.takeOne() {
				break
			}
		}
	}
}

// takeOne leases the oldest waiting job and queues it here; it reports
// whether it found one.
func (s *Service) takeOne() bool {
	token := s.leaseToken()
	now := time.Now()
	r, attempts, ok, err := s.leaser.Claim(context.Background(), "", token, now, now.Add(s.cfg.Lease))
	if err != nil {
		s.log.Warn("look for waiting jobs", "err", err)
		return false
	}
	if !ok {
		return false
	}
	j := s.newJob(context.Background(), r.ID, nil)
	j.inputBlob, j.lease, j.record = r.InputBlob, token, &r
	if attempts > s.cfg.MaxAttempts {
		s.giveUp(j, attempts)
		j.cancel()
		return true
	}
	if err := s.enqueue(j, nil); err != nil {
		// Shutting down, or full after all: put it back for another.
		s.setStatus(j, Update{Status: schema.JobQueued})
		return false
	}
	return true
}
