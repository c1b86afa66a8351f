// The "comm-terminal" interface: served by a comm-terminal, called by the factory terminals of its
// lines (FIG 22 single-device request, S9 reception notice, S11 write result).
// gSOAP definition: soapcpp2 turns it into stubs and CommTerminal.wsdl at build time.

#import "xsd_types.h"

//gsoap ct service name: CommTerminal
//gsoap ct service namespace: urn:certline:comm-terminal:1
//gsoap ct schema namespace: urn:certline:comm-terminal:1
//gsoap ct schema form: qualified
//gsoap ct service style: document
//gsoap ct service encoding: literal
//gsoap ct service port: https://comm.certline.test:8444/comm-terminal
//gsoap ct service documentation: certline communication terminal: hands each line the certificate pack of the device it is producing and records the write result.

typedef char *ct__DeviceNumber "[0-9A-Z]{1,8}-[0-9]{1,12}" 3:21;
typedef char *ct__Pack 1:32768;
typedef char *ct__Serial "[0-9A-F]{2,40}" 2:40;
typedef char *ct__VerificationValue "[0-9a-f]{64}" 64:64;
typedef char *ct__Reason 0:256;

/// OK or NG, as in FIG 23.
enum ct__Result { ct__Result__OK, ct__Result__NG };

/// FIG 22 certificate transmission request for the device being produced (S5).
struct ct__CertificateTransmissionRequest {
    ct__DeviceNumber deviceNumber 1;
};

/// FIG 22 certificate transmission: the pack for that device number (S6).
struct ct__CertificateTransmission {
    ct__DeviceNumber deviceNumber 1;
    ct__Pack pack 1;
};

//gsoap ct service method-documentation: CertificateTransmissionRequest FIG 22: the pack for one device number; factory-terminal role only, the line id is taken from its certificate.
int __ct__CertificateTransmissionRequest(
    struct ct__CertificateTransmissionRequest *ct__CertificateTransmissionRequest,
    struct ct__CertificateTransmission *ct__CertificateTransmission);

/// S9: the device answered the transmission (its S8 reception response).
struct ct__ReceptionNotice {
    ct__DeviceNumber deviceNumber 1;
    enum ct__Result result 1;
    ct__Reason reason 0;
};

/// S12 (and the answer to S9): the comm-terminal has committed what it was told.
struct ct__ReceptionResponse {
    ct__DeviceNumber deviceNumber 1;
    enum ct__Result result 1;
    ct__Reason reason 0;
    /// After an NG write: a replacement pack is stored, so a re-scan provisions again.
    enum xsd__boolean *replacementReady 0;
};

//gsoap ct service method-documentation: ReceptionNotice S9: the device received its pack; marks it delivered.
int __ct__ReceptionNotice(struct ct__ReceptionNotice *ct__ReceptionNotice,
                          struct ct__ReceptionResponse *ct__ReceptionResponse);

/// S11 (FIG 23B): the device's write result, with its installation proof when OK.
struct ct__WriteResult {
    ct__DeviceNumber deviceNumber 1;
    enum ct__Result result 1;
    ct__Reason reason 0;
    ct__Serial certificateSerial 0;
    ct__VerificationValue verificationValue 0;
};

//gsoap ct service method-documentation: WriteResult S11/S12: OK sets the write-completion flag; NG stores a replacement pack before answering.
int __ct__WriteResult(struct ct__WriteResult *ct__WriteResult,
                      struct ct__ReceptionResponse *ct__ReceptionResponse);

/// A certificate revocation list: RFC 5280 v2, DER, base64; signed by the issuing CA.
typedef char *ct__Crl 1:67108864;

/// Which CRL the factory terminal already holds.
struct ct__RevocationList {
    /// The cRLNumber of the CRL the caller holds; 0: none.
    ULONG64 heldNumber 1;
};

/// The newest CRL the comm-terminal holds (from ca-server), or no CRL when the caller holds it
/// already or the comm-terminal holds none yet (number 0).
struct ct__RevocationListResponse {
    ULONG64 number 1;
    xsd__dateTime *thisUpdate 0;
    xsd__dateTime *nextUpdate 0;
    ct__Crl crl 0;
};

//gsoap ct service method-documentation: RevocationList the newest CRL the comm-terminal holds, so that a line enforces it while ca-server is away; factory-terminal role only.
int __ct__RevocationList(struct ct__RevocationList *ct__RevocationList,
                         struct ct__RevocationListResponse *ct__RevocationListResponse);

// The production management system's plan feed [0083]: called with a certificate of role
// production only (a line's certificate is refused, and production may call no line operation).

typedef char *ct__RequestId "[!-~]{1,64}" 1:64;
/// A production plan as `comm-terminal import` reads it: CSV with the header
/// device_code,date,units,first_serial[,serial_digits] (or device_code,date,units,serials with
/// serials separated by ;), or a JSON array of such entries.
typedef char *ct__PlanText 1:1048576;
typedef char *ct__Day "[0-9]{4}-[0-9]{2}-[0-9]{2}" 10:10;

/// A plan, once per request id: the same id again changes nothing; with another plan it is
/// refused.
struct ct__SubmitPlan {
    ct__RequestId requestId 1;
    ct__PlanText plan 1;
};

struct ct__SubmitPlanResponse {
    ct__RequestId requestId 1;
    int entries 1;
    /// Device numbers the plan added (as the first time, for a repeat).
    int newDeviceNumbers 1;
    /// The request id was imported before with the same plan: nothing changed.
    enum xsd__boolean repeated 1;
};

//gsoap ct service method-documentation: SubmitPlan the production plan [FIG 19B], validated and imported like comm-terminal import, idempotent by requestId; production role only.
int __ct__SubmitPlan(struct ct__SubmitPlan *ct__SubmitPlan,
                     struct ct__SubmitPlanResponse *ct__SubmitPlanResponse);

/// done: the day's fetch ran to its end; running: a fetch is under way (ask again); failed:
/// the fetch stopped (reason), a later one resumes it.
enum ct__FetchState { ct__FetchState__done, ct__FetchState__running, ct__FetchState__failed };

/// Asks for the day's batch fetch [S1/S2] now rather than at fetch_time.
struct ct__FetchNow {
    /// The production day; absent: today (the comm-terminal's clock).
    ct__Day day 0;
};

struct ct__FetchNowResponse {
    ct__Day day 1;
    enum ct__FetchState state 1;
    /// Planned device numbers of certificate-managed models still without a pack.
    int remaining 1;
    ct__Reason reason 0;
};

//gsoap ct service method-documentation: FetchNow runs the day's batch fetch from ca-server now and answers when it ends (or that one is running); production role only.
int __ct__FetchNow(struct ct__FetchNow *ct__FetchNow,
                   struct ct__FetchNowResponse *ct__FetchNowResponse);
