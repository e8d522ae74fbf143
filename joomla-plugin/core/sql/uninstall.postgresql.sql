DROP TABLE IF EXISTS "#__civicrm_bridge_outbox";
