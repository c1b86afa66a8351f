-- cfssl_certdb.sql: the certificate database of `cfssl serve -db-config` for the cfssl comparison
-- (tests/bench/bench_cfssl.py, issue 19). Follows cfssl's certdb/pg/migrations/
-- 001_CreateCertificates.sql at the revision Debian's golang-cfssl 1.2.0+git20160825.89.7fb22c8
-- is built from (github.com/cloudflare/cfssl, commit 7fb22c8): the "Up" part, without goose's
-- markers. That revision's INSERT names exactly these columns (no created_at yet).
CREATE TABLE certificates (
  serial_number            bytea NOT NULL,
  authority_key_identifier bytea NOT NULL,
  ca_label                 bytea,
  status                   bytea NOT NULL,
  reason                   int,
  expiry                   timestamptz,
  revoked_at               timestamptz,
  pem                      bytea NOT NULL,
  PRIMARY KEY (serial_number, authority_key_identifier)
);

CREATE TABLE ocsp_responses (
  serial_number            bytea NOT NULL,
  authority_key_identifier bytea NOT NULL,
  body                     bytea NOT NULL,
  expiry                   timestamptz,
  PRIMARY KEY (serial_number, authority_key_identifier),
  FOREIGN KEY (serial_number, authority_key_identifier)
    REFERENCES certificates (serial_number, authority_key_identifier)
);
