import Testing
@testable import PortcullisCore

@Suite struct AddressParsingTests {
    @Test(arguments: ["203.0.113.10", "0.0.0.0", "255.255.255.255", "100.64.0.1"])
    func validIPv4(_ text: String) throws {
        #expect(try IPv4Address(parsing: text).description == text)
    }

    @Test(arguments: ["203.0.113", "203.0.113.256", "203.0.113.01", "a.b.c.d", "", "1.2.3.4.5", " 1.2.3.4", "1..2.3"])
    func invalidIPv4(_ text: String) {
        #expect(throws: ValidationError.self) { try IPv4Address(parsing: text) }
    }

    @Test(arguments: [("2001:DB8::10", "2001:db8::10"), ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"), ("::", "::"), ("fe80::1", "fe80::1")])
    func ipv6Canonical(_ input: String, _ canonical: String) throws {
        #expect(try IPv6Address(parsing: input).description == canonical)
    }

    @Test(arguments: ["2001:db8::g", "1.2.3.4", "fe80::1%eth0", "2001:db8:::1", ""])
    func invalidIPv6(_ text: String) {
        #expect(throws: ValidationError.self) { try IPv6Address(parsing: text) }
    }

    @Test func prefixesRefuseHostBits() throws {
        #expect(try IPv4Network(parsing: "203.0.113.0/24").contains(IPv4Address(parsing: "203.0.113.77")))
        #expect(try !IPv4Network(parsing: "203.0.113.0/24").contains(IPv4Address(parsing: "203.0.114.1")))
        let error = #expect(throws: ValidationError.self) { try IPv4Network(parsing: "203.0.113.5/24") }
        #expect(error?.problem.contains("203.0.113.0/24") == true)
        #expect(throws: ValidationError.self) { try IPv6Network(parsing: "2001:db8::10/64") }
        #expect(throws: ValidationError.self) { try IPv4Network(parsing: "10.0.0.0/33") }
        let v6 = try IPv6Network(parsing: "2001:db8:5::/64")
        #expect(v6.last.description == "2001:db8:5:0:ffff:ffff:ffff:ffff")
        #expect(try v6.contains(IPv6Address(parsing: "2001:db8:5::abcd")))
        #expect(try !v6.contains(IPv6Address(parsing: "2001:db8:6::1")))
    }

    @Test func macAndEUI64() throws {
        let mac = try MACAddress(parsing: "02:00:00:00:01:01")
        #expect(mac.eui64LinkLocal.description == "fe80::ff:fe00:101")
        #expect(try MACAddress(parsing: "52:54:00:12:34:56").eui64LinkLocal.description == "fe80::5054:ff:fe12:3456")
        #expect(try MACAddress(parsing: "AA:bb:CC:00:11:22").description == "aa:bb:cc:00:11:22")
    }

    @Test(arguments: ["01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "02:00:00:00:01", "02-00-00-00-01-01", "02:00:00:00:01:0g"])
    func invalidMAC(_ text: String) {
        #expect(throws: ValidationError.self) { try MACAddress(parsing: text) }
    }

    @Test(arguments: ["tap0", "vmpriv0", "tap-1.2_x", "a23456789012345"])
    func validInterface(_ name: String) throws {
        #expect(try InterfaceName(parsing: name).name == name)
    }

    @Test(arguments: ["", "a234567890123456", "tap 0", "tap\"0", "tap;0", "täp0", "..", "eth0/1"])
    func invalidInterface(_ name: String) {
        let error = #expect(throws: ValidationError.self) { try InterfaceName(parsing: name) }
        #expect(error?.field == "interface")
    }

    @Test func portsAndDurations() throws {
        #expect(try PortSet(parsing: "587, 25,465,25").description == "25,465,587")
        #expect(throws: ValidationError.self) { try PortSet(parsing: "25,0") }
        #expect(throws: ValidationError.self) { try PortSet(parsing: "70000") }
        #expect(try PolicyDuration(parsing: "30d").seconds == 2_592_000)
        #expect(try PolicyDuration(parsing: "90m").description == "90m")
        #expect(throws: ValidationError.self) { try PolicyDuration(parsing: "30") }
        #expect(throws: ValidationError.self) { try PolicyDuration(parsing: "-1h") }
    }
}
