// The "ca" interface: served by ca-server, called by a comm-terminal (FIG 21 batch, replacement,
// installation report) and by a device with its own certificate (check-in).
// gSOAP definition: soapcpp2 turns it into stubs and CertificateAuthority.wsdl at build time.

#import "xsd_types.h"

//gsoap ca service name: CertificateAuthority
//gsoap ca service namespace: urn:certline:ca:1
//gsoap ca schema namespace: urn:certline:ca:1
//gsoap ca schema form: qualified
//gsoap ca service style: document
//gsoap ca service encoding: literal
//gsoap ca service port: https://ca.certline.test:8443/ca
//gsoap ca service documentation: certline certificate authority: issues certificate packs in batches, verifies installation proofs, signs receipts, answers device check-ins.

/// A device number: device code, a hyphen, the serial number (e.g. 3012-123456) [FIG 20].
typedef char *ca__DeviceNumber "[0-9A-Z]{1,8}-[0-9]{1,12}" 3:21;
/// Idempotency key chosen by the comm-terminal; the same id with the same body gets the same packs.
typedef char *ca__RequestId "[0-9A-Za-z._:-]{1,64}" 1:64;
/// A certificate pack: versioned JSON document (root and chain, device certificate, coded key).
typedef char *ca__Pack 1:32768;
/// Certificate serial number, upper-case hexadecimal, at most 20 octets.
typedef char *ca__Serial "[0-9A-F]{2,40}" 2:40;
/// Installation proof: the server-side verification value, 32 bytes in lower-case hexadecimal.
typedef char *ca__VerificationValue "[0-9a-f]{64}" 64:64;
/// Receipt signature by the CA, base64 (DER-encoded ECDSA or RSA signature).
typedef char *ca__Signature 1:1024;
/// The issuing CA certificate that signed a receipt, PEM.
typedef char *ca__Certificate 1:8192;
/// Human-readable reason.
typedef char *ca__Reason 0:256;

/// Where a device number stands at the certificate authority.
enum ca__DeviceState {
    ca__DeviceState__INSTALLED,
    ca__DeviceState__ISSUED,
    ca__DeviceState__SUPERSEDED,
    ca__DeviceState__REVOKED,
    ca__DeviceState__UNKNOWN
};

/// One device number with its certificate pack.
struct ca__PackItem {
    ca__DeviceNumber deviceNumber 1;
    ca__Pack pack 1;
};

/// FIG 21 certificate transmission request: the device numbers of a day's production (S1).
struct ca__CertificateTransmissionRequest {
    ca__RequestId requestId 1;
    /// true: supersede the valid certificate these device numbers hold (after an NG write).
    enum xsd__boolean replacement 1;
    $int __sizeDeviceNumber 1:1000;
    ca__DeviceNumber *deviceNumber 1:1000;
};

/// FIG 21 certificate transmission: one pack per requested device number, in request order (S2).
struct ca__CertificateTransmission {
    ca__RequestId requestId 1;
    $int __sizeItem 1:1000;
    struct ca__PackItem *item 1:1000;
};

//gsoap ca service method-documentation: CertificateTransmissionRequest FIG 21: issue (or re-send) the certificate packs for up to 1000 device numbers; comm-terminal role only.
int __ca__CertificateTransmissionRequest(
    struct ca__CertificateTransmissionRequest *ca__CertificateTransmissionRequest,
    struct ca__CertificateTransmission *ca__CertificateTransmission);

/// Installation report: the proof a device sent with its OK write result [seed 004].
struct ca__InstallationReport {
    ca__DeviceNumber deviceNumber 1;
    ca__Serial certificateSerial 1;
    ca__VerificationValue verificationValue 1;
    xsd__dateTime writtenAt 1;
};

/// Signed, dated receipt for an installation [seed 004, steps 120-136].
struct ca__InstallationReceipt {
    ca__DeviceNumber deviceNumber 1;
    ca__Serial certificateSerial 1;
    ca__VerificationValue verificationValue 1;
    xsd__dateTime receivedAt 1;
    ca__Signature signature 1;
    ca__Certificate signerCertificate 1;
};

//gsoap ca service method-documentation: InstallationReport check an installation proof, mark the certificate installed and answer a signed receipt; idempotent; comm-terminal role only.
int __ca__InstallationReport(struct ca__InstallationReport *ca__InstallationReport,
                             struct ca__InstallationReceipt *ca__InstallationReceipt);

/// Installation reports sent together: 1 to 200 of them (a request over that is refused whole).
struct ca__ReportBatch {
    $int __sizeReport 1:200;
    struct ca__InstallationReport *report 1:200;
    /// Optional: 1 asks for the receipts signed as a batch (common/receipt.h, manifest
    /// "certline-receipt-batch v1"): one signature over the manifest, in ca:ReceiptBatch's
    /// manifestSignature. Absent (or a version ca-server does not know): one per receipt.
    int *receiptManifest 0;
};

/// What became of one report of a batch.
enum ca__ReportVerdict {
    /// Installed: the receipt is given.
    ca__ReportVerdict__RECEIPT,
    /// Refused for good, as ca:InstallationReport would refuse it with a Sender fault.
    ca__ReportVerdict__REFUSED,
    /// Not answered now (a Receiver fault of ca:InstallationReport): worth sending again.
    ca__ReportVerdict__FAILED
};

/// One report's outcome, in the order of the batch.
struct ca__ReportOutcome {
    ca__DeviceNumber deviceNumber 1;
    ca__Serial certificateSerial 1;
    enum ca__ReportVerdict verdict 1;
    /// RECEIPT: the signed receipt, as ca:InstallationReport answers it.
    struct ca__InstallationReceipt *receipt 0;
    /// REFUSED or FAILED: the fault string ca:InstallationReport would answer, and why.
    ca__Reason refusal 0;
    ca__Reason reason 0;
};

/// One outcome per report, in the order of the batch.
struct ca__ReceiptBatch {
    $int __sizeOutcome 1:200;
    struct ca__ReportOutcome *outcome 1:200;
    /// Only when receiptManifest 1 was asked and at least one report has its receipt: the
    /// signature over the manifest (common/receipt.h) of the RECEIPT outcomes' receipts, in the
    /// order of the batch; each of those receipts then carries this same signature, and proves
    /// itself with the manifest rather than alone.
    ca__Signature manifestSignature 0;
};

//gsoap ca service method-documentation: ReportBatch up to 200 installation reports at once: the proofs checked and recorded in one transaction, one receipt or refusal per report, in order, the receipts signed one by one or (receiptManifest 1) once as a batch; idempotent; comm-terminal role only.
int __ca__ReportBatch(struct ca__ReportBatch *ca__ReportBatch,
                      struct ca__ReceiptBatch *ca__ReceiptBatch);

/// Device check-in: the device number is read from the presented certificate, not from the body.
struct ca__CheckIn {
    /// What the device believes its number is (from NVRAM); reported back for comparison.
    ca__DeviceNumber claimedDeviceNumber 0;
};

/// What the central side knows about the certificate the device presented [effect 1].
struct ca__CheckInResponse {
    ca__DeviceNumber deviceNumber 1;
    enum ca__DeviceState state 1;
    ca__Serial certificateSerial 0;
    ca__Reason detail 0;
};

//gsoap ca service method-documentation: CheckIn a device presents its own certificate and learns its state; device role only.
int __ca__CheckIn(struct ca__CheckIn *ca__CheckIn, struct ca__CheckInResponse *ca__CheckInResponse);

/// A certificate revocation list: RFC 5280 v2, DER, base64; signed by the issuing CA.
typedef char *ca__Crl 1:67108864;

/// Which CRL the caller already holds.
struct ca__RevocationList {
    /// The cRLNumber of the CRL the caller holds; 0: none.
    ULONG64 heldNumber 1;
};

/// The current CRL, or no CRL when the caller already holds it (number equal to heldNumber).
struct ca__RevocationListResponse {
    ULONG64 number 1;
    xsd__dateTime thisUpdate 1;
    xsd__dateTime nextUpdate 1;
    ca__Crl crl 0;
};

//gsoap ca service method-documentation: RevocationList the current CRL signed by the issuing CA (none if the caller holds it already); comm-terminal role only.
int __ca__RevocationList(struct ca__RevocationList *ca__RevocationList,
                         struct ca__RevocationListResponse *ca__RevocationListResponse);

/// Why certificates are retired: the comm-terminal deleted their packs unwritten.
enum ca__RetireReason {
    /// The model was discontinued (delete-model).
    ca__RetireReason__DISCONTINUED,
    /// Unwritten stock held past the comm-terminal's retention.
    ca__RetireReason__EXPIRED_STOCK
};

/// Certificates whose packs a comm-terminal deleted without writing them; revoked with reason
/// cessationOfOperation. Idempotent: retiring a retired certificate again succeeds.
struct ca__Retire {
    enum ca__RetireReason reason 1;
    $int __sizeCertificateSerial 1:1000;
    ca__Serial *certificateSerial 1:1000;
};

/// How many of the listed certificates are now retired (already retired ones included).
struct ca__RetireResponse {
    int retired 1;
};

//gsoap ca service method-documentation: Retire revoke (cessationOfOperation) up to 1000 certificates whose packs the calling comm-terminal deleted unwritten; idempotent; comm-terminal role only, and only its own certificates.
int __ca__Retire(struct ca__Retire *ca__Retire,
                 struct ca__RetireResponse *ca__RetireResponse);

/// A device code [FIG 19A].
typedef char *ca__ModelCode "[0-9A-Z]{1,8}" 1:8;

/// The device models a comm-terminal asks about.
struct ca__Models {
    /// Only these models (none: every model ca-server knows).
    $int __sizeModelCode 0:1000;
    ca__ModelCode *modelCode 0:1000;
};

/// One device model and whether its devices get certificates [FIG 19A].
struct ca__Model {
    ca__ModelCode code 1;
    enum xsd__boolean certificateManaged 1;
};

/// The models ca-server knows among those asked (a model it does not know is absent).
struct ca__ModelsResponse {
    $int __sizeModel 0:100000;
    struct ca__Model *model 0:100000;
};

//gsoap ca service method-documentation: Models the device models ca-server knows and their certificate-managed flag (ca-server is the one model list); comm-terminal role only.
int __ca__Models(struct ca__Models *ca__Models, struct ca__ModelsResponse *ca__ModelsResponse);
