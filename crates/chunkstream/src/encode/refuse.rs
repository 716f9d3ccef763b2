//! `Serializer` methods that refuse what they are given, for the serializers that take
//! only some shapes of value (map keys, CSV fields, text lines).

/// Writes `Serializer` methods that each answer `Err(self.$refusal("what it was"))`,
/// naming the value's shape in the words of [`refuse_compound!`]'s list.
macro_rules! refuse {
    ($refusal:ident: $($method:ident($($arg:ty),*) -> $ret:ty: $found:expr;)*) => {$(
        fn $method(self, $(_: $arg),*) -> Result<$ret, Self::Error> {
            Err(self.$refusal($found))
        }
    )*};
}

/// Writes the `Serializer` methods of every compound value (sequences, tuples, maps,
/// structs, enum variants with data), each refused with `self.$refusal("what it was")`.
macro_rules! refuse_compound {
    ($refusal:ident) => {
        $crate::encode::refuse::refuse! { $refusal:
            serialize_seq(Option<usize>) -> Self::SerializeSeq: "a sequence";
            serialize_tuple(usize) -> Self::SerializeTuple: "a tuple";
            serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct: "a tuple struct";
            serialize_map(Option<usize>) -> Self::SerializeMap: "a map";
            serialize_struct(&'static str, usize) -> Self::SerializeStruct: "a struct";
        }
        $crate::encode::refuse::refuse_variants!($refusal);
    };
}

/// Writes the `Serializer` methods of the enum variants that carry data (newtype,
/// tuple and struct variants), each refused with `self.$refusal("an enum variant with
/// data")`.
macro_rules! refuse_variants {
    ($refusal:ident) => {
        fn serialize_newtype_variant<T: ::serde::Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<Self::Ok, Self::Error> {
            Err(self.$refusal("an enum variant with data"))
        }
        $crate::encode::refuse::refuse! { $refusal:
            serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant: "an enum variant with data";
            serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant: "an enum variant with data";
        }
    };
}

/// The compound types of a `Serializer` that takes no compound value: `Ok` and `Error`
/// are `$ok` and `$error`, and every compound is `Impossible`.
macro_rules! no_compounds {
    ($ok:ty, $error:ty) => {
        type Ok = $ok;
        type Error = $error;
        type SerializeSeq = ::serde::ser::Impossible<$ok, $error>;
        type SerializeTuple = ::serde::ser::Impossible<$ok, $error>;
        type SerializeTupleStruct = ::serde::ser::Impossible<$ok, $error>;
        type SerializeTupleVariant = ::serde::ser::Impossible<$ok, $error>;
        type SerializeMap = ::serde::ser::Impossible<$ok, $error>;
        type SerializeStruct = ::serde::ser::Impossible<$ok, $error>;
        type SerializeStructVariant = ::serde::ser::Impossible<$ok, $error>;
    };
}

pub(crate) use {no_compounds, refuse, refuse_compound, refuse_variants};
