"""UHF RFID readers: Chafon-family serial readers, LLRP fixed readers, SGTIN-96 decoding.

- ``epc``: ``decode_epc`` (SGTIN-96 -> GTIN + serial, other EPCs passed through), ``encode_sgtin96``
- ``chafon``: the serial protocol, pure (frames, CRC-16/MCRF4XX, inventory replies, framer)
- ``client``: ``ChafonReader`` (polled: one inventory round per ``read``), over ``transport``
- ``llrp``: ``LlrpReader`` (sllurp; pushes tag reports) and ``tag_reads_from_report``
- ``simulator``: ``ChafonSimulator`` on a pty, with the faults of real readers
- ``reads``: ``TagRead``, what every reader yields

Nothing is imported here, so decoding an EPC does not load pyserial or sllurp.
"""
