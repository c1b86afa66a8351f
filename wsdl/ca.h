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
