"""The fault matrix of issue 12 (../shared/RELIABILITY.md §3), one test per row, against the emulator's faults.

Row of §3, fault: module, test.

- 1, access token expiring mid-sync: test_sync_faults,
  test_token_expiring_mid_sync_is_refreshed_once_and_the_sync_finishes
- 2, `invalid_grant`: test_sync_faults,
  test_invalid_grant_mid_sync_stops_without_a_retry_loop_and_resumes_after_reconnecting
- 5, burst of 429: test_sync_faults, test_a_429_burst_waits_what_qbo_asks_and_the_sync_finishes
- 6, burst of 500: test_sync_faults, test_a_500_burst_on_a_create_is_resubmitted_once_then_retried_into_one_customer
- 7, burst of 503: test_sync_faults, test_a_503_burst_fails_the_run_without_moving_its_cursor_and_the_rerun_resumes
- 8, timeouts: test_sync_faults, test_timeouts_are_retried_and_leave_exactly_one_of_everything
- 10, 5010: test_write_faults, test_a_5010_rereads_and_keeps_both_changes_or_opens_one_conflict
- 11, 6240: test_write_faults, test_a_6240_from_a_customer_made_meanwhile_becomes_a_review_row_not_a_duplicate
- 16, a partly failing batch: test_write_faults, test_a_partly_failing_batch_applies_the_rest_and_never_resends_them
- 18, webhook replay: test_webhook_faults, test_a_replayed_webhook_is_stored_once_and_changes_nothing
- 22, duplicate webhooks: test_webhook_faults,
  test_duplicate_deliveries_store_each_event_once_and_read_each_entity_once
- 21, out-of-order webhooks: test_webhook_faults,
  test_out_of_order_webhooks_end_at_qbos_newest_version_and_never_resurrect
- 19, bad signatures: test_webhook_faults, test_bad_signatures_are_refused_and_leave_nothing
- 20, malformed bodies: test_webhook_faults,
  test_malformed_bodies_are_acknowledged_kept_visible_and_never_block_the_good_events
- 24, a worker killed mid-sync and run again: test_crash_faults,
  test_a_worker_killed_mid_sync_is_resumed_from_its_checkpoint_by_the_next_worker
- 25, PostgreSQL restarted mid-sync: test_crash_faults,
  test_postgresql_restarted_mid_sync_fails_the_run_visibly_and_the_rerun_resumes and
  test_postgresql_restarted_mid_sync_loses_nothing_and_the_run_resumes_from_its_checkpoint

Rows 24 and 25 need PostgreSQL (marked `postgres`); the others run on SQLite and PostgreSQL. No test sleeps through a
backoff: the transport's sleeper is the virtual clock of `support.py`.
"""
