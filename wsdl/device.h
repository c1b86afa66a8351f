// The "device" interface: served by the device on the line (device-agent), called by its factory
// terminal (S7 certificate transmission, S8 reception response, FIG 23A).
// gSOAP definition: soapcpp2 turns it into stubs and Device.wsdl at build time.

#import "xsd_types.h"

//gsoap dev service name: Device
//gsoap dev service namespace: urn:certline:device:1
//gsoap dev schema namespace: urn:certline:device:1
//gsoap dev schema form: qualified
//gsoap dev service style: document
//gsoap dev service encoding: literal
//gsoap dev service port: https://device.certline.test:8446/device
//gsoap dev service documentation: certline device writing interface: receives its certificate pack from the factory terminal.

typedef char *dev__DeviceNumber "[0-9A-Z]{1,8}-[0-9]{1,12}" 3:21;
typedef char *dev__Pack 1:32768;
typedef char *dev__Reason 0:256;
typedef char *dev__TransmissionId "[0-9a-f]{32}" 32:32;
typedef char *dev__TransmissionKey "[0-9a-f]{64}" 64:64;

/// OK or NG, as in FIG 23.
enum dev__Result { dev__Result__OK, dev__Result__NG };

/// S7 (FIG 23A): the certificate pack for the device number on its plate, and this transmission's
/// id and secret key (fresh for each S7, 128 and 256 random bits, lower-case hex): the device
/// authenticates its write result (S10) with the key. Optional in the schema so that a peer
/// without them gets the device's own NG reason; the device refuses an S7 without them.
struct dev__CertificateTransmission {
    dev__DeviceNumber deviceNumber 1;
    dev__Pack pack 1;
    dev__TransmissionId transmissionId 0;
    dev__TransmissionKey transmissionKey 0;
};

/// S8 (FIG 23A): the device accepted the pack for writing, or says why not.
struct dev__ReceptionResponse {
    dev__DeviceNumber deviceNumber 1;
    enum dev__Result result 1;
    dev__Reason reason 0;
};

//gsoap dev service method-documentation: CertificateTransmission S7/S8: take a pack for writing; factory-terminal role only.
int __dev__CertificateTransmission(struct dev__CertificateTransmission *dev__CertificateTransmission,
                                   struct dev__ReceptionResponse *dev__ReceptionResponse);
