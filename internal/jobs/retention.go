package jobs

import (
	"context"
	"time"
)

// janitor expires old jobs every hour until ctx ends.
func (s *Service) janitor(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		s.Expire(time.Now())
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// Expire forgets the jobs that finished more than Config.Retention before
// now, with their results (the janitor calls it every hour).
func (s *Service) Expire(now time.Time) {
	ctx := context.Background()
	list, err := s.store.Expired(ctx, now.Add(-s.cfg.Retention))
	if err != nil {
		s.log.Warn("expire jobs", "err", err)
		return
	}
	for _, r := range list {
		if err := s.store.Delete(ctx, r.ID); err != nil {
			s.log.Warn("expire job", "job", r.ID, "err", err)
			continue
		}
		for _, blob := range []string{r.InputBlob, r.ResultBlob} {
			if blob != "" {
				s.deleteUnreferenced(blob)
			}
		}
	}
	if len(list) > 0 {
		s.log.Info("expired finished jobs", "count", len(list), "retention", s.cfg.Retention.String())
	}
}

// deleteUnreferenced removes a job blob that no job row refers to any more.
// It holds s.mu, which Submit holds from storing an input blob until its
// row is recorded, so the blob of a job being submitted through this
// process is never deleted; with a [BlobReferences] store, the count and
// the removal are also serialized with the submits of other processes (a
// node's replicas).
func (s *Service) deleteUnreferenced(blob string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if refs, blobs, ok := s.blobReferences(); ok {
		if _, err := refs.DeleteUnreferenced(context.Background(), blobs, blob); err != nil {
			s.log.Warn("delete job blob", "err", err)
		}
		return
	}
	refs, err := s.store.References(context.Background(), blob)
	if err == nil && refs == 0 {
		if err := s.blobs.Delete(blob); err != nil {
			s.log.Warn("delete job blob", "err", err)
		}
	}
}
