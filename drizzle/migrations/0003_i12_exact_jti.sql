-- jti values are compared exactly (CaseJti-x and casejti-x are two tokens): a binary collation,
-- which the collation step of `migrate` leaves alone (server/data/collation.ts).
ALTER TABLE `civibridge_event` MODIFY `jti` varchar(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;
--> statement-breakpoint
ALTER TABLE `civibridge_used_token` MODIFY `jti` varchar(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;
