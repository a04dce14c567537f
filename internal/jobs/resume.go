package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aios-edge/aios/api/schema"
)

// resume queues again the jobs a previous run left queued or running,
// oldest first; those beyond the queue's room, or whose Work cannot be
// rebuilt, fail with a message saying so.
func (s *Service) resume(ctx context.Context) error {
	list, err := s.store.Resumable(ctx)
	if err != nil {
		return fmt.Errorf("jobs: resume jobs: %w", err)
	}
	for _, r := range list {
		if err := s.requeue(r); err != nil {
			s.setRecordStatus(r.ID, r.InputBlob, "", Update{Status: schema.JobFailed, Error: "could not resume after restart: " + err.Error(), FinishedAt: time.Now().UTC()})
		}
	}
	return nil
}

func (s *Service) requeue(r Record) error {
	if s.cfg.Resume == nil {
		return errors.New("this node does not resume jobs")
	}
	w, err := s.cfg.Resume(r, s.opener(r.InputBlob))
	if err != nil {
		return err
	}
	j := s.newJob(context.Background(), r.ID, w)
	j.inputBlob = r.InputBlob
	return s.enqueue(j, func() error {
		s.setRecordStatus(r.ID, r.InputBlob, "", Update{Status: schema.JobQueued})
		return nil
	})
}
