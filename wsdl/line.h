// The "line" interface: served by a factory terminal, called by the device on its line with the
// result of writing its pack (S10 write result, S13 reception response, FIG 23B).
// gSOAP definition: soapcpp2 turns it into stubs and Line.wsdl at build time.

#import "xsd_types.h"

//gsoap line service name: Line
//gsoap line service namespace: urn:certline:line:1
//gsoap line schema namespace: urn:certline:line:1
//gsoap line schema form: qualified
//gsoap line service style: document
//gsoap line service encoding: literal
//gsoap line service port: https://line-1001.certline.test:8445/line
//gsoap line service documentation: certline factory terminal: receives a device's write result and answers once the comm-terminal has recorded it.

typedef char *line__DeviceNumber "[0-9A-Z]{1,8}-[0-9]{1,12}" 3:21;
typedef char *line__Serial "[0-9A-F]{2,40}" 2:40;
typedef char *line__VerificationValue "[0-9a-f]{64}" 64:64;
typedef char *line__Reason 0:256;
typedef char *line__TransmissionId "[0-9a-f]{32}" 32:32;
typedef char *line__ResultMac "[0-9a-f]{64}" 64:64;

/// OK or NG, as in FIG 23.
enum line__Result { line__Result__OK, line__Result__NG };

/// S10 (FIG 23B): write result with the installation proof (server-side verification value),
/// bound to the S7 it answers: that S7's transmission id and an HMAC-SHA256 under that S7's key
/// over every field (common/transmission_key.h). Optional in the schema so that a result without
/// them gets the factory terminal's own fault reason; the factory terminal requires both.
struct line__WriteResult {
    line__DeviceNumber deviceNumber 1;
    enum line__Result result 1;
    line__Reason reason 0;
    line__Serial certificateSerial 0;
    line__VerificationValue verificationValue 0;
    line__TransmissionId transmissionId 0;
    line__ResultMac resultMac 0;
};

/// S13 (FIG 23B): the write result has been recorded by the comm-terminal.
struct line__ReceptionResponse {
    line__DeviceNumber deviceNumber 1;
    enum line__Result result 1;
    line__Reason reason 0;
};

//gsoap line service method-documentation: WriteResult S10/S13: a device reports its write; a device-common or device role only.
int __line__WriteResult(struct line__WriteResult *line__WriteResult,
                        struct line__ReceptionResponse *line__ReceptionResponse);
