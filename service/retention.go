package service

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/q2o/q2o/models"
)

// PruneArtifacts keeps the zips and logs of a project's keep newest runs
// (Q2O_KEEP_RUNS) and deletes the older ones' from the artifacts store
// (files, or objects of the bucket with s3), forgetting them in
// their rows: those runs stay listed, without a download. The last completed
// run's zip is always kept, however old, since it is what the client
// downloads. keep < 1 keeps everything. It returns how many runs it pruned.
func (s *Service) PruneArtifacts(ctx context.Context, projectID uuid.UUID, keep int) (int, error) {
	if keep < 1 {
		return 0, nil
	}
	var old []models.Execution
	err := s.DB.WithContext(ctx).Where("project_id = ? AND (zip_path IS NOT NULL OR log_path IS NOT NULL)", projectID).
		Order("created_at DESC, id DESC").Offset(keep).Find(&old).Error
	if err != nil {
		return 0, fmt.Errorf("find old artifacts: %w", err)
	}
	if len(old) == 0 {
		return 0, nil // the usual case: no statement more
	}
	last, err := s.lastCompleted(ctx, projectID)
	if err != nil {
		return 0, err
	}
	pruned := 0
	for _, e := range old {
		if last != nil && e.ID == last.ID {
			continue
		}
		for _, ref := range []*string{e.ZipPath, e.LogPath} {
			if ref == nil {
				continue
			}
			key, err := s.Artifacts.Key(*ref)
			if err != nil { // recorded under another root or bucket: not ours to delete
				s.Log.Warn("prune: artifact outside the store; forgotten, not deleted", "execution_id", e.ID, "ref", *ref, "error", err)
				continue
			}
			if err := s.Artifacts.Delete(ctx, key); err != nil {
				return pruned, fmt.Errorf("delete %s: %w", *ref, err)
			}
		}
		err := s.DB.WithContext(ctx).Model(&models.Execution{}).Where("id = ?", e.ID).
			Updates(map[string]any{"zip_path": nil, "zip_size": nil, "zip_sha256": nil, "log_path": nil, "updated_at": s.Now()}).Error
		if err != nil {
			return pruned, err
		}
		pruned++
	}
	return pruned, nil
}
